-- Free space on a kiosk's data disk, from its heartbeat (StationStatus.disk_free_mb).
ALTER TABLE stations ADD COLUMN disk_free_mb INTEGER;
