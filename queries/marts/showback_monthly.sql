-- showback_monthly: what each team (or env, business unit, any showback dimension) cost per
-- billing period and currency: its direct spend plus its share of the shared costs.
-- Grain: billing_period x dimension x value x currency.
-- Inputs: showback_attribution, shared_cost_splits, shared_cost_weights.
-- Columns: billing_period, dimension, value, currency, and for each measure (unblended_cost,
--   amortized_cost, net_unblended_cost, net_amortized_cost) the total, direct_<measure> and
--   shared_<measure> (total = direct + shared); share_of_period, line_items (direct line items),
--   split_method.
--
-- Direct spend is the spend attributed to the value itself. Spend without a value that no
-- shared-cost rule claims stays in the value '(untagged)', never dropped and never split, so
-- what nobody owns stays visible. The shared spend of a period, dimension and currency (the
-- pool: spend that a [shared_costs.rules] rule matches) goes to the dimension's values, by the
-- method that finops.toml sets for the dimension:
--   proportional  to each value's direct amortized cost (negative direct spend counts as 0; when
--                 no value has positive direct spend, evenly), the default;
--   even          in equal parts to every value with direct spend;
--   weights       by the fixed weights of [shared_costs.dimensions.<dimension>] (summing to 1),
--                 to those values whether or not they had direct spend.
-- '(untagged)' never receives a share; a pool with nobody to receive it (no value has direct
-- spend) is shown as shared cost of '(untagged)'.
--
-- Rounding, so that the split sums back exactly: each measure's pool is summed as DECIMAL (a float
-- sum can land on either side of a half cent, by the order it adds the lines in, and
-- checks/shared_costs_split_exactly.sql must round the same pool the same way) and rounded to whole
-- cents C, and the values, in name order, get cumulative bounds R_i = round(C * W_i / W) of their
-- cumulative integer weight W_i (direct cents, weights in billionths, or 1), with R_n = C for the
-- last. Value i gets R_i - R_(i-1) cents. The parts telescope to exactly C; each is within a cent
-- of its exact share; and as R_i never decreases, every part has the pool's sign (no negative share
-- of a positive pool). The direct columns keep full precision, so a dimension's rows add up to the
-- period's total to within half a cent (the pool's rounding to cents):
-- checks/showback_reconciles.sql and checks/shared_costs_split_exactly.sql hold both.
-- share_of_period is the row's share of the amortized cost of its period, dimension and currency
-- (NULL when that is 0). Amounts are in the row's currency; never add currencies.
WITH direct AS (
    SELECT
        billing_period,
        dimension,
        coalesce(value, '(untagged)') AS value,
        currency,
        sum(unblended_cost) AS direct_unblended_cost,
        sum(amortized_cost) AS direct_amortized_cost,
        sum(net_unblended_cost) AS direct_net_unblended_cost,
        sum(net_amortized_cost) AS direct_net_amortized_cost,
        CAST(sum(line_items) AS BIGINT) AS line_items
    FROM showback_attribution
    WHERE shared_rule IS NULL
    GROUP BY billing_period, dimension, coalesce(value, '(untagged)'), currency
),

pools AS (
    SELECT
        showback_attribution.billing_period,
        showback_attribution.dimension,
        showback_attribution.currency,
        coalesce(shared_cost_splits.method, 'proportional') AS split_method,
        CAST(round(
            sum(CAST(showback_attribution.unblended_cost AS DECIMAL(38, 10))) * 100
        ) AS BIGINT) AS unblended_cents,
        CAST(round(
            sum(CAST(showback_attribution.amortized_cost AS DECIMAL(38, 10))) * 100
        ) AS BIGINT) AS amortized_cents,
        CAST(round(
            sum(CAST(showback_attribution.net_unblended_cost AS DECIMAL(38, 10))) * 100
        ) AS BIGINT) AS net_unblended_cents,
        CAST(round(
            sum(CAST(showback_attribution.net_amortized_cost AS DECIMAL(38, 10))) * 100
        ) AS BIGINT) AS net_amortized_cents
    FROM showback_attribution
    LEFT JOIN shared_cost_splits
        ON showback_attribution.dimension = shared_cost_splits.dimension
    WHERE showback_attribution.shared_rule IS NOT NULL
    GROUP BY
        showback_attribution.billing_period,
        showback_attribution.dimension,
        showback_attribution.currency,
        coalesce(shared_cost_splits.method, 'proportional')
),

recipients AS (
    SELECT
        pools.billing_period,
        pools.dimension,
        pools.currency,
        direct.value,
        CASE
            WHEN pools.split_method = 'even' THEN CAST(1 AS BIGINT)
            ELSE greatest(CAST(round(direct.direct_amortized_cost * 100) AS BIGINT), 0)
        END AS weight
    FROM pools
    INNER JOIN direct
        ON pools.billing_period = direct.billing_period
        AND pools.dimension = direct.dimension
        AND pools.currency = direct.currency
    WHERE pools.split_method IN ('proportional', 'even')
        AND direct.value <> '(untagged)'
    UNION ALL
    SELECT
        pools.billing_period,
        pools.dimension,
        pools.currency,
        shared_cost_weights.value,
        CAST(round(shared_cost_weights.weight * 1000000000) AS BIGINT) AS weight
    FROM pools
    INNER JOIN shared_cost_weights
        ON pools.dimension = shared_cost_weights.dimension
    WHERE pools.split_method = 'weights'
),

weighted AS (
    SELECT
        billing_period,
        dimension,
        currency,
        value,
        weight,
        sum(weight) OVER (PARTITION BY billing_period, dimension, currency) AS total_weight,
        count(*) OVER (PARTITION BY billing_period, dimension, currency) AS recipient_count
    FROM recipients
),

-- Nobody with positive direct spend: the pool goes evenly rather than nowhere.
cumulative AS (
    SELECT
        billing_period,
        dimension,
        currency,
        value,
        sum(CASE WHEN total_weight > 0 THEN weight ELSE 1 END) OVER (
            PARTITION BY billing_period, dimension, currency
            ORDER BY value
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ) AS cumulative_weight,
        CASE WHEN total_weight > 0 THEN total_weight ELSE recipient_count END AS total_weight
    FROM weighted
),

bounds AS (
    SELECT
        cumulative.billing_period,
        cumulative.dimension,
        cumulative.currency,
        cumulative.value,
        CASE
            WHEN cumulative.cumulative_weight = cumulative.total_weight THEN pools.unblended_cents
            ELSE CAST(round(
                CAST(pools.unblended_cents AS DOUBLE) * cumulative.cumulative_weight
                / CAST(cumulative.total_weight AS DOUBLE)
            ) AS BIGINT)
        END AS unblended_bound,
        CASE
            WHEN cumulative.cumulative_weight = cumulative.total_weight THEN pools.amortized_cents
            ELSE CAST(round(
                CAST(pools.amortized_cents AS DOUBLE) * cumulative.cumulative_weight
                / CAST(cumulative.total_weight AS DOUBLE)
            ) AS BIGINT)
        END AS amortized_bound,
        CASE
            WHEN cumulative.cumulative_weight = cumulative.total_weight
                THEN pools.net_unblended_cents
            ELSE CAST(round(
                CAST(pools.net_unblended_cents AS DOUBLE) * cumulative.cumulative_weight
                / CAST(cumulative.total_weight AS DOUBLE)
            ) AS BIGINT)
        END AS net_unblended_bound,
        CASE
            WHEN cumulative.cumulative_weight = cumulative.total_weight
                THEN pools.net_amortized_cents
            ELSE CAST(round(
                CAST(pools.net_amortized_cents AS DOUBLE) * cumulative.cumulative_weight
                / CAST(cumulative.total_weight AS DOUBLE)
            ) AS BIGINT)
        END AS net_amortized_bound
    FROM cumulative
    INNER JOIN pools
        ON cumulative.billing_period = pools.billing_period
        AND cumulative.dimension = pools.dimension
        AND cumulative.currency = pools.currency
),

allocated AS (
    SELECT
        billing_period,
        dimension,
        currency,
        value,
        unblended_bound - lag(unblended_bound, 1, 0) OVER (
            PARTITION BY billing_period, dimension, currency ORDER BY value
        ) AS unblended_cents,
        amortized_bound - lag(amortized_bound, 1, 0) OVER (
            PARTITION BY billing_period, dimension, currency ORDER BY value
        ) AS amortized_cents,
        net_unblended_bound - lag(net_unblended_bound, 1, 0) OVER (
            PARTITION BY billing_period, dimension, currency ORDER BY value
        )
            AS net_unblended_cents,
        net_amortized_bound - lag(net_amortized_bound, 1, 0) OVER (
            PARTITION BY billing_period, dimension, currency ORDER BY value
        )
            AS net_amortized_cents
    FROM bounds
),

unreceived AS (
    SELECT
        pools.billing_period,
        pools.dimension,
        pools.currency,
        '(untagged)' AS value,
        pools.unblended_cents,
        pools.amortized_cents,
        pools.net_unblended_cents,
        pools.net_amortized_cents
    FROM pools
    LEFT JOIN (SELECT DISTINCT billing_period, dimension, currency FROM recipients) AS received
        ON pools.billing_period = received.billing_period
        AND pools.dimension = received.dimension
        AND pools.currency = received.currency
    WHERE received.dimension IS NULL
),

shared AS (
    SELECT * FROM allocated
    UNION ALL
    SELECT * FROM unreceived
),

combined AS (
    SELECT
        coalesce(direct.billing_period, shared.billing_period) AS billing_period,
        coalesce(direct.dimension, shared.dimension) AS dimension,
        coalesce(direct.value, shared.value) AS value,
        coalesce(direct.currency, shared.currency) AS currency,
        coalesce(direct.direct_unblended_cost, 0) AS direct_unblended_cost,
        coalesce(CAST(shared.unblended_cents AS DOUBLE) / 100, 0) AS shared_unblended_cost,
        coalesce(direct.direct_amortized_cost, 0) AS direct_amortized_cost,
        coalesce(CAST(shared.amortized_cents AS DOUBLE) / 100, 0) AS shared_amortized_cost,
        coalesce(direct.direct_net_unblended_cost, 0) AS direct_net_unblended_cost,
        coalesce(CAST(shared.net_unblended_cents AS DOUBLE) / 100, 0)
            AS shared_net_unblended_cost,
        coalesce(direct.direct_net_amortized_cost, 0) AS direct_net_amortized_cost,
        coalesce(CAST(shared.net_amortized_cents AS DOUBLE) / 100, 0)
            AS shared_net_amortized_cost,
        coalesce(direct.line_items, 0) AS line_items
    FROM direct
    FULL OUTER JOIN shared
        ON direct.billing_period = shared.billing_period
        AND direct.dimension = shared.dimension
        AND direct.value = shared.value
        AND direct.currency = shared.currency
)

SELECT
    combined.billing_period,
    combined.dimension,
    combined.value,
    combined.currency,
    combined.direct_unblended_cost + combined.shared_unblended_cost AS unblended_cost,
    combined.direct_unblended_cost,
    combined.shared_unblended_cost,
    combined.direct_amortized_cost + combined.shared_amortized_cost AS amortized_cost,
    combined.direct_amortized_cost,
    combined.shared_amortized_cost,
    combined.direct_net_unblended_cost + combined.shared_net_unblended_cost
        AS net_unblended_cost,
    combined.direct_net_unblended_cost,
    combined.shared_net_unblended_cost,
    combined.direct_net_amortized_cost + combined.shared_net_amortized_cost
        AS net_amortized_cost,
    combined.direct_net_amortized_cost,
    combined.shared_net_amortized_cost,
    (combined.direct_amortized_cost + combined.shared_amortized_cost) / nullif(
        sum(combined.direct_amortized_cost + combined.shared_amortized_cost) OVER (
            PARTITION BY combined.billing_period, combined.dimension, combined.currency
        ),
        0
    ) AS share_of_period,
    combined.line_items,
    coalesce(shared_cost_splits.method, 'proportional') AS split_method
FROM combined
LEFT JOIN shared_cost_splits
    ON combined.dimension = shared_cost_splits.dimension
