-- shared_costs_split_exactly: the shared costs of showback_monthly add up to their pool, to the
-- cent, and nobody gets a share of the opposite sign.
-- Grain: one row per billing period, showback dimension, currency and measure whose shared
-- column, summed in cents, differs from the pool rounded to cents; plus one row per
-- showback_monthly row whose shared amount has the opposite sign of its pool.
-- Inputs: showback_attribution (the pool: spend a shared-cost rule matches), showback_monthly.
WITH pools AS (
    SELECT
        billing_period,
        dimension,
        currency,
        CAST(round(sum(CAST(unblended_cost AS DECIMAL(38, 10))) * 100) AS BIGINT)
            AS unblended_cents,
        CAST(round(sum(CAST(amortized_cost AS DECIMAL(38, 10))) * 100) AS BIGINT)
            AS amortized_cents,
        CAST(round(sum(CAST(net_unblended_cost AS DECIMAL(38, 10))) * 100) AS BIGINT)
            AS net_unblended_cents,
        CAST(round(sum(CAST(net_amortized_cost AS DECIMAL(38, 10))) * 100) AS BIGINT)
            AS net_amortized_cents
    FROM showback_attribution
    WHERE shared_rule IS NOT NULL
    GROUP BY billing_period, dimension, currency
),

split AS (
    SELECT
        billing_period,
        dimension,
        currency,
        sum(CAST(round(shared_unblended_cost * 100) AS BIGINT)) AS unblended_cents,
        sum(CAST(round(shared_amortized_cost * 100) AS BIGINT)) AS amortized_cents,
        sum(CAST(round(shared_net_unblended_cost * 100) AS BIGINT)) AS net_unblended_cents,
        sum(CAST(round(shared_net_amortized_cost * 100) AS BIGINT)) AS net_amortized_cents
    FROM showback_monthly
    GROUP BY billing_period, dimension, currency
),

compared AS (
    SELECT
        coalesce(pools.billing_period, split.billing_period) AS billing_period,
        coalesce(pools.dimension, split.dimension) AS dimension,
        coalesce(pools.currency, split.currency) AS currency,
        measures.measure,
        CASE measures.measure
            WHEN 'unblended_cost' THEN coalesce(pools.unblended_cents, 0)
            WHEN 'amortized_cost' THEN coalesce(pools.amortized_cents, 0)
            WHEN 'net_unblended_cost' THEN coalesce(pools.net_unblended_cents, 0)
            ELSE coalesce(pools.net_amortized_cents, 0)
        END AS pool_cents,
        CASE measures.measure
            WHEN 'unblended_cost' THEN coalesce(split.unblended_cents, 0)
            WHEN 'amortized_cost' THEN coalesce(split.amortized_cents, 0)
            WHEN 'net_unblended_cost' THEN coalesce(split.net_unblended_cents, 0)
            ELSE coalesce(split.net_amortized_cents, 0)
        END AS split_cents
    FROM pools
    FULL OUTER JOIN split
        ON pools.billing_period IS NOT DISTINCT FROM split.billing_period
        AND pools.dimension = split.dimension
        AND pools.currency = split.currency
    CROSS JOIN (
        SELECT 'unblended_cost' AS measure
        UNION ALL SELECT 'amortized_cost'
        UNION ALL SELECT 'net_unblended_cost'
        UNION ALL SELECT 'net_amortized_cost'
    ) AS measures
)

SELECT
    billing_period,
    dimension,
    currency,
    measure,
    CAST(NULL AS VARCHAR) AS value,
    'shared ' || measure || ' of ' || dimension || ' adds up to ' || CAST(split_cents AS VARCHAR)
        || ' cents where the shared pool is ' || CAST(pool_cents AS VARCHAR) || ' cents in '
        || currency AS reason
FROM compared
WHERE pool_cents <> split_cents
UNION ALL
SELECT
    showback_monthly.billing_period,
    showback_monthly.dimension,
    showback_monthly.currency,
    'amortized_cost' AS measure,
    showback_monthly.value,
    showback_monthly.value || ' gets a shared amortized cost of '
        || CAST(showback_monthly.shared_amortized_cost AS VARCHAR)
        || ' from a pool of ' || CAST(pools.amortized_cents AS VARCHAR) || ' cents in '
        || showback_monthly.currency AS reason
FROM showback_monthly
INNER JOIN pools
    ON showback_monthly.billing_period = pools.billing_period
    AND showback_monthly.dimension = pools.dimension
    AND showback_monthly.currency = pools.currency
WHERE showback_monthly.shared_amortized_cost * pools.amortized_cents < 0
