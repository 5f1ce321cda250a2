-- Quiet hours per organisation (docs/channels.md): wake-ups (reminders,
-- expiry notices, paced lessons) due between start and end wait until the
-- window ends. Local times `HH:MM`; the zone is an IANA name, NULL for the
-- server's --timezone. All three NULL: no quiet hours.
ALTER TABLE organisations ADD COLUMN quiet_start TEXT;
ALTER TABLE organisations ADD COLUMN quiet_end TEXT;
ALTER TABLE organisations ADD COLUMN quiet_timezone TEXT;
