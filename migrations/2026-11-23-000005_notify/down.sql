DROP TRIGGER IF EXISTS events_notify ON events;
DROP TRIGGER IF EXISTS commands_notify ON commands;
DROP FUNCTION IF EXISTS notify_events();
DROP FUNCTION IF EXISTS notify_commands();
