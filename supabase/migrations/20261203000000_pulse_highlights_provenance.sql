-- Segmento Pulse: a job's highlights and the provenance of its summary's claims, readable as
-- columns (Supabase's table editor, PostgREST filters, SQL) without a second copy to keep in
-- step: both are generated from the stored document (SQL null when the job made none).
-- Idempotent.

alter table pulse_results
    add column if not exists highlights jsonb
        generated always as (nullif(document -> 'highlights', 'null'::jsonb)) stored;

alter table pulse_results
    add column if not exists provenance jsonb
        generated always as (nullif(document -> 'provenance', 'null'::jsonb)) stored;

-- Claims the grounding check flagged (null when the job made no summary): find the results
-- whose summary states what the article does not.
alter table pulse_results
    add column if not exists unsupported_claims integer
        generated always as ((document -> 'provenance' ->> 'unsupported')::integer) stored;
