-- The Focus marketplace (spec §6.1, §6.4). Portable SQL: the same statements run on SQLite and
-- PostgreSQL. Times are Unix seconds, amounts rao (1 TAO = 1e9 rao), exact integers.
CREATE TABLE focus_videos (
    video_id TEXT PRIMARY KEY,
    task_title TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    components TEXT NOT NULL,
    duration_seconds DOUBLE PRECISION NOT NULL,
    owner_coldkey TEXT NOT NULL,
    price_rao BIGINT NOT NULL,
    state TEXT NOT NULL,
    miner_hotkey TEXT,
    reserved_until BIGINT,
    extrinsic TEXT UNIQUE,
    earned_rao BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX focus_videos_state ON focus_videos (state, updated_at);

CREATE TABLE miner_bans (
    hotkey TEXT PRIMARY KEY,
    failed_in_a_row BIGINT NOT NULL,
    banned_until BIGINT
);

CREATE TABLE purchase_events (
    video_id TEXT NOT NULL,
    miner_hotkey TEXT NOT NULL,
    event TEXT NOT NULL,
    detail TEXT,
    at BIGINT NOT NULL
);
CREATE INDEX purchase_events_at ON purchase_events (at);
