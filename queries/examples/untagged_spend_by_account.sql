-- untagged_spend_by_account: spend without a team tag, per account and billing period.
-- Grain: one row per billing period, account and currency.
-- Inputs: stg_line_items.
-- "Untagged" means no tag that finops.toml maps to the team dimension, after key and value
-- aliases; tax, support and unused commitments are usually untagged by nature, so the charge
-- category is shown to tell them from usage someone forgot to tag.
SELECT
    billing_period,
    account_id,
    currency,
    sum(amortized_cost) FILTER (WHERE team IS NULL) AS untagged_amortized_cost,
    sum(amortized_cost) FILTER (
        WHERE team IS NULL AND charge_category = 'Usage'
    ) AS untagged_usage_cost,
    sum(amortized_cost) AS total_amortized_cost,
    sum(amortized_cost) FILTER (WHERE team IS NULL) / nullif(sum(amortized_cost), 0)
        AS untagged_share,
    count(*) FILTER (WHERE team IS NULL) AS untagged_line_items
FROM stg_line_items
GROUP BY billing_period, account_id, currency
ORDER BY billing_period, untagged_amortized_cost DESC, account_id
