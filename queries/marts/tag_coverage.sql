-- tag_coverage: the share of spend that carries each tag dimension, per account and service,
-- period and currency. The dimensions are team, env and any other that finops.toml configures.
-- Grain: billing_period x account_id x service x dimension x currency, with the totals as rows
-- of their own: service '(all)' for an account's whole spend, account_id '(all)' for a
-- service across accounts, and both '(all)' for the whole period. Filter on '(all)' before
-- adding amounts (account_id = '(all)' AND service = '(all)' is the period), and only within one
-- currency (a period can mix them; nothing here converts); coverage itself is a ratio and is
-- never summed.
-- Inputs: stg_line_items, tag_key_aliases (the configured dimensions).
-- Columns: billing_period, account_id, service, dimension, currency, tagged_amortized_cost,
--   total_amortized_cost, coverage, tagged_line_items, line_items.
-- coverage = tagged_amortized_cost / total_amortized_cost, NULL when the total is 0. Every
-- charge counts (tax and unused commitments included), so 1 - coverage is the share without a
-- value in the dimension, before shared-cost rules claim any of it (showback_monthly).
WITH dimensions AS (
    SELECT DISTINCT dimension
    FROM tag_key_aliases
),

by_account AS (
    SELECT
        stg_line_items.billing_period,
        dimensions.dimension,
        stg_line_items.currency,
        CASE WHEN grouping(stg_line_items.account_id) = 1 THEN '(all)'
            ELSE stg_line_items.account_id END AS account_id,
        CASE WHEN grouping(stg_line_items.service) = 1 THEN '(all)'
            ELSE stg_line_items.service END AS service,
        coalesce(
            sum(stg_line_items.amortized_cost) FILTER (
                WHERE stg_line_items.tag_dimensions[dimensions.dimension] IS NOT NULL
            ),
            0
        ) AS tagged_amortized_cost,
        sum(stg_line_items.amortized_cost) AS total_amortized_cost,
        count(*) FILTER (
            WHERE stg_line_items.tag_dimensions[dimensions.dimension] IS NOT NULL
        ) AS tagged_line_items,
        count(*) AS line_items
    FROM stg_line_items
    CROSS JOIN dimensions
    GROUP BY GROUPING SETS (
        (
            stg_line_items.billing_period,
            dimensions.dimension,
            stg_line_items.currency,
            stg_line_items.account_id,
            stg_line_items.service
        ),
        (
            stg_line_items.billing_period,
            dimensions.dimension,
            stg_line_items.currency,
            stg_line_items.account_id
        ),
        (
            stg_line_items.billing_period,
            dimensions.dimension,
            stg_line_items.currency,
            stg_line_items.service
        ),
        (stg_line_items.billing_period, dimensions.dimension, stg_line_items.currency)
    )
)

SELECT
    billing_period,
    account_id,
    service,
    dimension,
    currency,
    tagged_amortized_cost,
    total_amortized_cost,
    tagged_amortized_cost / nullif(total_amortized_cost, 0) AS coverage,
    tagged_line_items,
    line_items
FROM by_account
