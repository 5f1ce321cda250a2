-- Key roles (docs/api.md#key-roles): admin (everything), analyst (read
-- only), author (module preview and upload). Keys made before roles
-- existed keep doing everything: they become admin.
ALTER TABLE api_keys ADD COLUMN role TEXT NOT NULL DEFAULT 'admin'
    CHECK (role IN ('admin', 'analyst', 'author'));
