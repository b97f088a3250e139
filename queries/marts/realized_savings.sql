-- realized_savings: what the plan executor's actions saved: each resource's cost before and after.
-- Grain: one row per plan action carried out (applied, step act, not a dry run) and currency.
-- Inputs: action_log (the executor's execution logs, loaded by `finops act ingest-log`; empty
--   until one is), stg_line_items.
-- Columns: action_id, kind, action, resource_type, resource_id, account_id, region, acted_at,
--   acted_on, currency, estimated_monthly_saving, days_before, days_after, cost_before,
--   cost_after, monthly_cost_before, monthly_cost_after, realized_monthly_saving,
--   realized_share (realized / estimated).
--
-- The windows are the 30 days before the day of the action and the 30 days after it; that day
-- itself holds both states and is left out. Each window counts only the days the warehouse has
-- line items for (days_before, days_after): until a day after the action is ingested,
-- days_after is 0 and the after figures are NULL. A monthly figure is the window's daily
-- average x 30.4375 (365.25 / 12). A resource with no line item in a window cost nothing in it
-- (a deleted volume, a released address). Resources are matched on line_item_resource_id as
-- the plan names them (the CUR's own id); costs are amortized, in each line item's currency,
-- and the estimate is in the plan's currency.
WITH acted AS (
    SELECT
        action_id,
        kind,
        action,
        resource_type,
        resource_id,
        account_id,
        region,
        min(executed_at) AS acted_at,
        max(estimated_monthly_saving) AS estimated_monthly_saving,
        max(currency) AS estimate_currency
    FROM action_log
    WHERE outcome = 'applied' AND step = 'act' AND NOT dry_run
    GROUP BY action_id, kind, action, resource_type, resource_id, account_id, region
),

coverage AS (
    SELECT min(usage_date) AS first_day, max(usage_date) AS last_day
    FROM stg_line_items
),

windows AS (
    SELECT
        acted.*,
        CAST(acted.acted_at AS DATE) AS acted_on,
        -- No line item at all leaves the dates NULL: no day on either side.
        greatest(0, least(30, coalesce(
            date_diff('day', coverage.first_day, CAST(acted.acted_at AS DATE)), 0
        ))) AS days_before,
        greatest(0, least(30, coalesce(
            date_diff('day', CAST(acted.acted_at AS DATE), coverage.last_day), 0
        ))) AS days_after
    FROM acted
    CROSS JOIN coverage
),

daily AS (
    SELECT resource_id, usage_date, currency, sum(amortized_cost) AS cost
    FROM stg_line_items
    WHERE resource_id IN (SELECT resource_id FROM acted)
    GROUP BY resource_id, usage_date, currency
),

summed AS (
    SELECT
        windows.action_id,
        windows.kind,
        windows.action,
        windows.resource_type,
        windows.resource_id,
        windows.account_id,
        windows.region,
        windows.acted_at,
        windows.acted_on,
        coalesce(daily.currency, windows.estimate_currency) AS currency,
        windows.estimated_monthly_saving,
        windows.days_before,
        windows.days_after,
        sum(
            CASE
                WHEN date_diff('day', daily.usage_date, windows.acted_on)
                    BETWEEN 1 AND windows.days_before THEN daily.cost
                ELSE 0
            END
        ) AS cost_before,
        sum(
            CASE
                WHEN date_diff('day', windows.acted_on, daily.usage_date)
                    BETWEEN 1 AND windows.days_after THEN daily.cost
                ELSE 0
            END
        ) AS cost_after
    FROM windows
    LEFT JOIN daily ON daily.resource_id = windows.resource_id
    GROUP BY
        windows.action_id,
        windows.kind,
        windows.action,
        windows.resource_type,
        windows.resource_id,
        windows.account_id,
        windows.region,
        windows.acted_at,
        windows.acted_on,
        coalesce(daily.currency, windows.estimate_currency),
        windows.estimated_monthly_saving,
        windows.days_before,
        windows.days_after
),

monthly AS (
    SELECT
        summed.*,
        CASE WHEN days_before > 0 THEN cost_before / days_before * 30.4375 END
            AS monthly_cost_before,
        CASE WHEN days_after > 0 THEN cost_after / days_after * 30.4375 END
            AS monthly_cost_after
    FROM summed
)

SELECT
    monthly.*,
    monthly_cost_before - monthly_cost_after AS realized_monthly_saving,
    (monthly_cost_before - monthly_cost_after) / nullif(estimated_monthly_saving, 0)
        AS realized_share
FROM monthly
