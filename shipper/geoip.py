"""GeoIP: ``source.geo.*`` from ``source.ip``, read from a MaxMind-format database (maxminddb).

Off unless ``shipper.geoip`` names a database file (GeoLite2-City, or any City-shaped MMDB); the
shipper ships no database. Lookups are cached per address (bounded): a site's clients repeat.
A private or unknown address gets no ``source.geo``; a file that cannot be opened is a
``GeoIPError`` naming the path, raised when the shipper starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_CACHE_MAX = 8192


class GeoIPError(Exception):
    pass


def _name(record: dict[str, Any], key: str) -> str | None:
    names = (record.get(key) or {}).get("names") or {}
    value = names.get("en")
    return value if isinstance(value, str) else None


def geo_fields(record: dict[str, Any]) -> dict[str, Any]:
    """A MaxMind City record -> ECS ``geo`` fields (only those it has)."""
    out: dict[str, Any] = {}
    continent, country = record.get("continent") or {}, record.get("country") or {}
    if isinstance(continent.get("code"), str):
        out["continent_code"] = continent["code"]
    if (name := _name(record, "continent")) is not None:
        out["continent_name"] = name
    if isinstance(country.get("iso_code"), str):
        out["country_iso_code"] = country["iso_code"]
    if (name := _name(record, "country")) is not None:
        out["country_name"] = name
    if (name := _name(record, "city")) is not None:
        out["city_name"] = name
    subdivisions = record.get("subdivisions") or []
    if subdivisions and isinstance(subdivisions[0], dict):
        sub = subdivisions[0]
        if isinstance(sub.get("iso_code"), str) and "country_iso_code" in out:
            out["region_iso_code"] = f"{out['country_iso_code']}-{sub['iso_code']}"
        if (name := _name({"s": sub}, "s")) is not None:
            out["region_name"] = name
    location = record.get("location") or {}
    lat, lon = location.get("latitude"), location.get("longitude")
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
        out["location"] = {"lat": lat, "lon": lon}
    if isinstance(location.get("time_zone"), str):
        out["timezone"] = location["time_zone"]
    postal = record.get("postal") or {}
    if isinstance(postal.get("code"), str):
        out["postal_code"] = postal["code"]
    return out


class GeoIP:
    """``lookup(ip)`` -> ECS geo fields or None. Not thread-safe: one per builder."""

    def __init__(self, path: Path) -> None:
        import maxminddb

        try:
            self._reader = maxminddb.open_database(str(path))
        except (OSError, ValueError, maxminddb.InvalidDatabaseError) as e:
            raise GeoIPError(f"cannot open the GeoIP database {path}: {e}") from None
        self._cache: dict[str, dict[str, Any] | None] = {}

    def lookup(self, ip: str) -> dict[str, Any] | None:
        if ip in self._cache:
            return self._cache[ip]
        try:
            record = self._reader.get(ip)
        except ValueError:  # not an address
            record = None
        geo = geo_fields(record) if isinstance(record, dict) else None
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[ip] = geo or None
        return geo or None

    def close(self) -> None:
        self._reader.close()
