-- Modules owned by an organisation (uploaded with POST /api/v1/fe/modules):
-- their versions carry the owner; the modules folder's shared modules have
-- none. An owned module's module_id is namespaced (`org/<org id>/<id>`), so
-- UNIQUE (module_id, content_hash) never joins two owners' versions.
ALTER TABLE module_versions ADD COLUMN org_id BIGINT REFERENCES organisations (id);
CREATE INDEX module_versions_org ON module_versions (org_id, module_uuid, id);
