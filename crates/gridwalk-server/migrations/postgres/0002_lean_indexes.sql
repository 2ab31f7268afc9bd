-- Two indexes every issue view write kept up for nothing: each is the leading column of a wider
-- index that serves the same lookups (issues_public_page on received_at_ms, issues_courtyard_page
-- on courtyard_id). A push writes ten views; each index less is ten B-tree inserts less.
DROP INDEX issues_received;
DROP INDEX issues_courtyard;
