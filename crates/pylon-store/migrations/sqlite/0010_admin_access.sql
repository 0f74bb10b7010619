-- Admin API access: console passwords (argon2 PHC strings, NULL = no password login)
-- and token kinds (`api` tokens, `session` tokens behind the console cookie).
-- Keep in step with ../postgres/0010_admin_access.sql.
ALTER TABLE admin_users ADD COLUMN password_hash TEXT;
ALTER TABLE admin_tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'session'));
