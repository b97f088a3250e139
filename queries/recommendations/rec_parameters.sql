-- rec_parameters: the recommendation parameters as one row, with the lookback window they read.
-- Grain: one row (none while the warehouse has no usage).
-- Inputs: recommendation_parameters (seed; finops.toml [recommendations] overrides it),
--   line_items (the first and latest usage day; read from the source columns, not staging, as
--   every recommendation model joins this row and staging's tag work is not needed here).
-- Columns: every parameter of the seed by name, last_usage_date (latest usage day in the data),
--   first_usage_date, window_days (days of the window that hold data: at most lookback_days),
--   window_hours, month_factor (hours_per_month / window_hours: scales a window's cost to a month).
WITH parameters AS (
    SELECT
        max(CASE WHEN parameter = 'lookback_days' THEN value END) AS lookback_days,
        max(CASE WHEN parameter = 'hours_per_month' THEN value END) AS hours_per_month,
        max(CASE WHEN parameter = 'min_monthly_saving' THEN value END) AS min_monthly_saving,
        max(CASE WHEN parameter = 'schedule_start_hour' THEN value END) AS schedule_start_hour,
        max(CASE WHEN parameter = 'schedule_end_hour' THEN value END) AS schedule_end_hour,
        max(CASE WHEN parameter = 'schedule_weekdays_only' THEN value END)
            AS schedule_weekdays_only,
        max(CASE WHEN parameter = 'schedule_utc_offset_hours' THEN value END)
            AS schedule_utc_offset_hours,
        max(CASE WHEN parameter = 'schedule_min_offhours_share' THEN value END)
            AS schedule_min_offhours_share,
        max(CASE WHEN parameter = 'schedule_low_share' THEN value END) AS schedule_low_share,
        max(CASE WHEN parameter = 'spot_discount_low' THEN value END) AS spot_discount_low,
        max(CASE WHEN parameter = 'spot_discount_high' THEN value END) AS spot_discount_high,
        max(CASE WHEN parameter = 'idle_nat_gb_per_day' THEN value END) AS idle_nat_gb_per_day,
        max(CASE WHEN parameter = 'idle_load_balancer_gb_per_day' THEN value END)
            AS idle_load_balancer_gb_per_day,
        max(CASE WHEN parameter = 'snapshot_max_age_days' THEN value END)
            AS snapshot_max_age_days,
        max(CASE WHEN parameter = 'compute_sp_discount' THEN value END) AS compute_sp_discount
    FROM recommendation_parameters
),

usage_days AS (
    SELECT
        CAST(min(line_item_usage_start_date) AS DATE) AS first_usage_date,
        CAST(max(line_item_usage_start_date) AS DATE) AS last_usage_date
    FROM line_items
    WHERE line_item_line_item_type IN (
        'Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage', 'SavingsPlanNegation'
    )
)

SELECT
    parameters.*,
    usage_days.first_usage_date,
    usage_days.last_usage_date,
    least(
        parameters.lookback_days,
        date_diff('day', usage_days.first_usage_date, usage_days.last_usage_date) + 1
    ) AS window_days,
    24 * least(
        parameters.lookback_days,
        date_diff('day', usage_days.first_usage_date, usage_days.last_usage_date) + 1
    ) AS window_hours,
    parameters.hours_per_month / (24 * least(
        parameters.lookback_days,
        date_diff('day', usage_days.first_usage_date, usage_days.last_usage_date) + 1
    )) AS month_factor
FROM parameters
CROSS JOIN usage_days
-- No usage, no window: every recommendation is empty then.
WHERE usage_days.last_usage_date IS NOT NULL
