-- reconciliation: staging keeps every line item and every cent of the warehouse, in its currency.
-- Grain: one row per billing period and currency whose line count or unblended total differs.
-- Inputs: line_items, stg_line_items.
-- A difference means a join in staging lost or duplicated lines (the tag join, for one), or
-- moved lines to another currency. Totals are compared per currency, so a line lost in one
-- currency cannot hide behind a line gained in another. A line without line_item_currency_code
-- counts as USD here, as staging counts it. Split cost allocation lines (EKS pods, ECS tasks:
-- split_line_item_parent_resource_id set) count 0 on both sides: staging zeroes them, since
-- their parent instance's line already holds the cost.
WITH source AS (
    SELECT
        billing_period,
        coalesce(line_item_currency_code, 'USD') AS currency,
        count(*) AS line_items,
        sum(
            CASE WHEN split_line_item_parent_resource_id IS NULL
                THEN coalesce(line_item_unblended_cost, 0) ELSE 0 END
        ) AS cost
    FROM line_items
    GROUP BY billing_period, coalesce(line_item_currency_code, 'USD')
),

staged AS (
    SELECT billing_period, currency, count(*) AS line_items, sum(unblended_cost) AS cost
    FROM stg_line_items
    GROUP BY billing_period, currency
)

SELECT
    coalesce(source.billing_period, staged.billing_period) AS billing_period,
    coalesce(source.currency, staged.currency) AS currency,
    coalesce(source.line_items, 0) AS source_line_items,
    coalesce(staged.line_items, 0) AS staged_line_items,
    coalesce(source.cost, 0) AS source_unblended_cost,
    coalesce(staged.cost, 0) AS staged_unblended_cost,
    'stg_line_items has ' || CAST(coalesce(staged.line_items, 0) AS VARCHAR)
        || ' line items and unblended cost ' || CAST(coalesce(staged.cost, 0) AS VARCHAR)
        || ' where line_items has ' || CAST(coalesce(source.line_items, 0) AS VARCHAR)
        || ' and ' || CAST(coalesce(source.cost, 0) AS VARCHAR) || ' in '
        || coalesce(source.currency, staged.currency) AS reason
FROM source
FULL OUTER JOIN staged
    ON source.billing_period IS NOT DISTINCT FROM staged.billing_period
    AND source.currency = staged.currency
WHERE coalesce(source.line_items, 0) <> coalesce(staged.line_items, 0)
    OR abs(coalesce(source.cost, 0) - coalesce(staged.cost, 0)) > 1e-6
