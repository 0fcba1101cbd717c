-- Least privilege (issue 20, finding 16): the services log in as agentbus_app, which may read and
-- write rows and use sequences but owns nothing, so it cannot create, alter or drop anything.
-- Migrations run as agentbus_owner (Migrator: SET ROLE), which owns every object; the default
-- privileges below give agentbus_app the same rights on what later migrations create, so a new
-- migration needs no grants of its own.
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO agentbus_app;
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO agentbus_app;
ALTER DEFAULT PRIVILEGES FOR ROLE agentbus_owner IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO agentbus_app;
ALTER DEFAULT PRIVILEGES FOR ROLE agentbus_owner IN SCHEMA public
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO agentbus_app;
