-- Segmento Pulse: durable job results. Applied by the Postgres store at start-up and usable
-- with the Supabase CLI (`supabase db push`). Idempotent.

create table if not exists pulse_results (
    job_id      text primary key,
    content_key text not null,
    status      text not null check (status in ('finished', 'failed')),
    created_at  timestamptz not null default now(),
    document    jsonb not null,        -- the whole StoredResult (shared/store/base.py)
    audio_path  text                   -- object path in the audio bucket or table, if any
);

create index if not exists pulse_results_content_key
    on pulse_results (content_key, created_at desc);

create index if not exists pulse_results_created_at
    on pulse_results (created_at desc);

-- Audio for the plain Postgres store (the Supabase store keeps it in a Storage bucket).
create table if not exists pulse_audio (
    job_id text primary key references pulse_results (job_id) on delete cascade,
    mp3    bytea not null
);

-- Supabase: only the service role (the worker and gateway) touches these tables.
alter table pulse_results enable row level security;
alter table pulse_audio enable row level security;
