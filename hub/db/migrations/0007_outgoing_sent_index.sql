-- Sent outgoing messages are kept for a week (what was sent to a station, and when), then
-- deleted oldest first; this index finds them without reading the whole table.
CREATE INDEX outgoing_sent ON outgoing (sent_at) WHERE sent_at IS NOT NULL;
