-- recommendations: every savings recommendation, one row each, ranked, with the share of its
-- saving that counts towards totals so that a resource with several is counted once.
-- Grain: kind x account_id x region x resource_id x currency.
-- Inputs: rec_idle, rec_schedule, rec_graviton, rec_previous_generation, rec_spot, rec_gp3,
--   rec_commitment, rec_parameters.
-- Columns: recommendation_id (kind:account:region:resource, stable across runs), kind,
--   account_id, region, resource_id, resource_type, service_code, team, env, currency,
--   current_monthly_cost, estimated_monthly_saving, saving_low, saving_high (each on its own,
--   as if it were the only change), co2e_kg_monthly_saved, confidence ('high'|'medium'|'low'),
--   evidence, action (JSON text: {"action", "resource_type", "parameters", "conditions"}),
--   counts_in_total (false when another recommendation of the resource makes it moot),
--   total_monthly_saving, total_saving_low, total_saving_high (what the row adds to a total),
--   co2e_kg_total_saved, rank (1 = largest saving).
-- Totals: sum the total_* columns. Per resource, in this order: idle (deleting the resource makes
-- every other recommendation moot), schedule, graviton, previous_generation (moot when graviton
-- applies: both change the type), spot, gp3. Each later one saves its share of what the earlier
-- ones leave: total_saving = saving x product of (1 - earlier saving / current cost). Example: a
-- 100/month instance stopped 64% of hours and moved to Graviton at -20% totals 64 + 20 x 0.36
-- = 71.2, not 84. The commitment comes last: its total is its saving scaled down by the share of
-- the eligible spend that the counted EC2 instance recommendations remove (see adjusted below).
-- Recommendations saving less than min_monthly_saving a month are left out.
WITH every_kind AS (
    SELECT kind, account_id, region, resource_id, resource_type, service_code, team, env,
        currency, current_monthly_cost, estimated_monthly_saving, saving_low, saving_high,
        co2e_kg_monthly_saved, confidence, evidence, action_name, action_parameters, 1 AS priority
    FROM rec_idle
    UNION ALL
    SELECT kind, account_id, region, resource_id, resource_type, service_code, team, env,
        currency, current_monthly_cost, estimated_monthly_saving, saving_low, saving_high,
        co2e_kg_monthly_saved, confidence, evidence, action_name, action_parameters, 2
    FROM rec_schedule
    UNION ALL
    SELECT kind, account_id, region, resource_id, resource_type, service_code, team, env,
        currency, current_monthly_cost, estimated_monthly_saving, saving_low, saving_high,
        co2e_kg_monthly_saved, confidence, evidence, action_name, action_parameters, 3
    FROM rec_graviton
    UNION ALL
    SELECT kind, account_id, region, resource_id, resource_type, service_code, team, env,
        currency, current_monthly_cost, estimated_monthly_saving, saving_low, saving_high,
        co2e_kg_monthly_saved, confidence, evidence, action_name, action_parameters, 4
    FROM rec_previous_generation
    UNION ALL
    SELECT kind, account_id, region, resource_id, resource_type, service_code, team, env,
        currency, current_monthly_cost, estimated_monthly_saving, saving_low, saving_high,
        co2e_kg_monthly_saved, confidence, evidence, action_name, action_parameters, 5
    FROM rec_spot
    UNION ALL
    SELECT kind, account_id, region, resource_id, resource_type, service_code, team, env,
        currency, current_monthly_cost, estimated_monthly_saving, saving_low, saving_high,
        co2e_kg_monthly_saved, confidence, evidence, action_name, action_parameters, 6
    FROM rec_gp3
    UNION ALL
    SELECT kind, account_id, region, resource_id, resource_type, service_code, team, env,
        currency, current_monthly_cost, estimated_monthly_saving, saving_low, saving_high,
        co2e_kg_monthly_saved, confidence, evidence, action_name, action_parameters, 7
    FROM rec_commitment
),

bounded AS (
    -- No saving exceeds the resource's cost, and a range holds its estimate.
    SELECT
        every_kind.*,
        least(estimated_monthly_saving, current_monthly_cost) AS saving,
        least(greatest(saving_low, 0), estimated_monthly_saving, current_monthly_cost) AS low,
        least(greatest(saving_high, estimated_monthly_saving), current_monthly_cost) AS high
    FROM every_kind
    CROSS JOIN rec_parameters AS p
    WHERE estimated_monthly_saving >= p.min_monthly_saving
),

shared_resources AS (
    SELECT
        bounded.*,
        max(CASE WHEN kind = 'idle' THEN 1 ELSE 0 END) OVER (
            PARTITION BY account_id, region, resource_id, currency
        ) AS resource_is_idle,
        max(CASE WHEN kind = 'graviton' THEN 1 ELSE 0 END) OVER (
            PARTITION BY account_id, region, resource_id, currency
        ) AS has_graviton
    FROM bounded
),

counted AS (
    SELECT
        shared_resources.*,
        NOT (
            (resource_is_idle = 1 AND kind <> 'idle')
            OR (has_graviton = 1 AND kind = 'previous_generation')
        ) AS counts_in_total
    FROM shared_resources
),

sequenced AS (
    SELECT
        counted.*,
        -- What the earlier counted recommendations of the resource leave of its cost (0..1).
        coalesce(exp(sum(
            CASE
                WHEN counts_in_total AND current_monthly_cost > 0
                    THEN ln(greatest(1e-12, 1 - saving / current_monthly_cost))
                ELSE 0
            END
        ) OVER (
            PARTITION BY account_id, region, resource_id, currency ORDER BY priority
            ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
        )), 1) AS remaining_share
    FROM counted
),

adjusted AS (
    -- The commitment is sized on today's eligible spend; the EC2 instance recommendations lower
    -- that spend. Scaling every hour's spend by k scales the best commitment's saving by k, so
    -- its total is its saving x (1 - their counted saving / the eligible spend), a fair
    -- approximation when they lower the spend evenly (a schedule does not: it removes nights).
    SELECT
        sequenced.*,
        CASE
            WHEN kind = 'commitment' THEN greatest(0, 1 - coalesce(sum(
                CASE
                    WHEN counts_in_total AND kind <> 'commitment' AND resource_type = 'ec2:instance'
                        THEN saving * remaining_share
                    ELSE 0
                END
            ) OVER (PARTITION BY currency), 0) / current_monthly_cost)
            ELSE remaining_share
        END AS total_share
    FROM sequenced
)

SELECT
    kind || ':' || account_id || ':' || region || ':' || resource_id AS recommendation_id,
    kind,
    account_id,
    region,
    resource_id,
    resource_type,
    service_code,
    team,
    env,
    currency,
    current_monthly_cost,
    saving AS estimated_monthly_saving,
    low AS saving_low,
    high AS saving_high,
    co2e_kg_monthly_saved,
    confidence,
    evidence,
    '{"action": "' || action_name || '", "resource_type": "' || resource_type
        || '", "parameters": ' || action_parameters || ', "conditions": '
        || CASE action_name
            WHEN 'release_elastic_ip'
                THEN '{"address_associated": false, "not_tagged": ["finops:protect"], '
                    || '"env_not": ["prod"]}'
            WHEN 'delete_volume'
                THEN '{"volume_state": "available", "min_idle_days": 7, '
                    || '"not_tagged": ["finops:protect"], "env_not": ["prod"]}'
            WHEN 'review' THEN '{"not_tagged": ["finops:protect"]}'
            ELSE '{"not_tagged": ["finops:protect"], "env_not": ["prod"]}'
        END || '}' AS action,
    counts_in_total,
    CASE WHEN counts_in_total THEN saving * total_share ELSE 0 END AS total_monthly_saving,
    CASE WHEN counts_in_total THEN low * total_share ELSE 0 END AS total_saving_low,
    CASE WHEN counts_in_total THEN high * total_share ELSE 0 END AS total_saving_high,
    CASE WHEN counts_in_total THEN co2e_kg_monthly_saved * total_share ELSE 0 END
        AS co2e_kg_total_saved,
    row_number() OVER (ORDER BY saving DESC, kind, account_id, region, resource_id) AS rank
FROM adjusted
