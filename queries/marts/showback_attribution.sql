-- showback_attribution: who each cost belongs to, per showback dimension, before shared costs are
-- split: the value it is attributed to directly, or the shared-cost rule that makes it shared.
-- Grain: billing_period x dimension x value x account_id x service_code x usage_type x currency
-- x shared_rule (NULL for direct spend).
-- Inputs: stg_line_items, shared_cost_splits (one row per showback dimension: the tag
-- dimensions, and business_unit when finops.toml maps accounts), account_business_units,
-- shared_cost_rules (finops.toml [shared_costs.rules]).
-- Columns: billing_period, dimension, value (NULL: the line has no value in the dimension),
-- account_id, service_code, usage_type, currency, shared_rule, unblended_cost, amortized_cost,
-- net_unblended_cost, net_amortized_cost, line_items.
-- A line is shared in a dimension when it meets a criterion of any rule: its product code is
-- listed (support plans), its usage type matches a pattern (NAT and Transit Gateway hours,
-- data transfer), or it comes from a listed account and has no value in that dimension. When
-- several rules match, shared_rule is the first by name. Every line of stg_line_items appears
-- once per dimension, so each dimension adds up to the period total
-- (checks/showback_reconciles.sql).
WITH dimensions AS (
    SELECT DISTINCT dimension
    FROM shared_cost_splits
),

attributed AS (
    SELECT
        stg_line_items.billing_period,
        dimensions.dimension,
        CASE
            WHEN dimensions.dimension = 'business_unit'
                THEN account_business_units.business_unit
            ELSE stg_line_items.tag_dimensions[dimensions.dimension]
        END AS value,
        stg_line_items.account_id,
        stg_line_items.service_code,
        stg_line_items.usage_type,
        stg_line_items.currency,
        stg_line_items.unblended_cost,
        stg_line_items.amortized_cost,
        stg_line_items.net_unblended_cost,
        stg_line_items.net_amortized_cost
    FROM stg_line_items
    CROSS JOIN dimensions
    LEFT JOIN account_business_units
        ON stg_line_items.account_id = account_business_units.account_id
),

grouped AS (
    SELECT
        billing_period,
        dimension,
        value,
        account_id,
        service_code,
        usage_type,
        currency,
        sum(unblended_cost) AS unblended_cost,
        sum(amortized_cost) AS amortized_cost,
        sum(net_unblended_cost) AS net_unblended_cost,
        sum(net_amortized_cost) AS net_amortized_cost,
        count(*) AS line_items
    FROM attributed
    GROUP BY billing_period, dimension, value, account_id, service_code, usage_type, currency
)

-- Each grouped row is one key, so max() of its measures is the measure: the join with the
-- rules may repeat a row once per matching rule, and grouping again folds them back to one.
SELECT
    grouped.billing_period,
    grouped.dimension,
    grouped.value,
    grouped.account_id,
    grouped.service_code,
    grouped.usage_type,
    grouped.currency,
    min(shared_cost_rules.rule) AS shared_rule,
    max(grouped.unblended_cost) AS unblended_cost,
    max(grouped.amortized_cost) AS amortized_cost,
    max(grouped.net_unblended_cost) AS net_unblended_cost,
    max(grouped.net_amortized_cost) AS net_amortized_cost,
    max(grouped.line_items) AS line_items
FROM grouped
LEFT JOIN shared_cost_rules
    ON (
        shared_cost_rules.criterion = 'product_code'
        AND grouped.service_code = shared_cost_rules.pattern
    )
    OR (
        shared_cost_rules.criterion = 'usage_type'
        AND grouped.usage_type LIKE shared_cost_rules.pattern ESCAPE '\'
    )
    OR (
        shared_cost_rules.criterion = 'untagged_account'
        AND grouped.account_id = shared_cost_rules.pattern
        AND grouped.value IS NULL
    )
GROUP BY
    grouped.billing_period,
    grouped.dimension,
    grouped.value,
    grouped.account_id,
    grouped.service_code,
    grouped.usage_type,
    grouped.currency
