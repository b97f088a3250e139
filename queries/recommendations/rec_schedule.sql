-- rec_schedule: non-production instances that run around the clock, priced from their actual
-- billed hours against a proposed schedule (weekdays 08:00-20:00 in the team's time zone by
-- default), with the schedule tag to apply.
-- Grain: one row per EC2 or RDS instance of rec_instances with is_production = false.
-- Inputs: stg_line_items (the hourly lines), rec_instances, schedule_team_offsets,
--   rec_parameters.
-- Columns: the recommendation columns (see recommendations) plus schedule_name, off_hours_billed,
--   off_hours_share.
-- Each on-demand or Savings Plan instance-hour line of the window is placed in the team's
-- local time (UTC + schedule_team_offsets.utc_offset_hours, else schedule_utc_offset_hours; a
-- fixed offset: the scheduler Lambda applies daylight saving time) and counted as inside or
-- outside the schedule.
-- A resource qualifies when it billed at least schedule_min_offhours_share of the window's
-- off-schedule hours. Saving = the cost of its off-schedule hours, scaled to a month; low = that
-- x schedule_low_share (overrides and late work); CO2e saved = its compute emissions x the
-- share of its billed hours that fall off schedule.
WITH candidates AS (
    SELECT i.*, coalesce(offsets.utc_offset_hours, p.schedule_utc_offset_hours) AS utc_offset
    FROM rec_instances AS i
    CROSS JOIN rec_parameters AS p
    LEFT JOIN (
        SELECT team, CAST(utc_offset_hours AS DOUBLE) AS utc_offset_hours
        FROM schedule_team_offsets
    ) AS offsets ON i.team = offsets.team
    WHERE i.is_production = false AND i.service_code IN ('AmazonEC2', 'AmazonRDS')
),

hours AS (
    SELECT
        c.account_id,
        c.region,
        c.resource_id,
        c.currency,
        floor(epoch(line.line_item_usage_start_date) / 3600) + c.utc_offset AS local_epoch_hour,
        line.amortized_cost
    FROM stg_line_items AS line
    INNER JOIN candidates AS c
        ON line.account_id = c.account_id
        AND line.region = c.region
        AND line.resource_id = c.resource_id
        AND line.currency = c.currency
    CROSS JOIN rec_parameters AS p
    WHERE line.pricing_model IN ('on_demand', 'savings_plan')
        -- The negation line repeats the covered hour; its cost is in the covered line.
        AND line.line_item_type <> 'SavingsPlanNegation'
        AND regexp_matches(line.usage_type, '(BoxUsage|InstanceUsage|Multi-AZUsage)')
        AND date_diff('day', line.usage_date, p.last_usage_date) < p.lookback_days
),

placed AS (
    SELECT
        hours.*,
        -- Day 0 of the Unix epoch was a Thursday: with Monday = 0 the weekday is (day + 3) mod 7.
        NOT (
            mod(CAST(local_epoch_hour AS BIGINT), 24) >= p.schedule_start_hour
            AND mod(CAST(local_epoch_hour AS BIGINT), 24) < p.schedule_end_hour
            AND (
                p.schedule_weekdays_only = 0
                OR mod(CAST(floor(local_epoch_hour / 24) AS BIGINT) + 3, 7) < 5
            )
        ) AS off_schedule
    FROM hours
    CROSS JOIN rec_parameters AS p
),

per_resource AS (
    SELECT
        account_id,
        region,
        resource_id,
        currency,
        count(DISTINCT CASE WHEN off_schedule THEN local_epoch_hour END) AS off_hours_billed,
        count(DISTINCT local_epoch_hour) AS hours_billed,
        sum(CASE WHEN off_schedule THEN amortized_cost ELSE 0 END) AS off_schedule_cost
    FROM placed
    GROUP BY account_id, region, resource_id, currency
),

scored AS (
    SELECT
        c.*,
        r.off_hours_billed,
        r.hours_billed,
        r.off_schedule_cost,
        -- The window's off-schedule hours: its hours minus the schedule's share of them.
        p.window_hours * (
            1 - (p.schedule_end_hour - p.schedule_start_hour)
                * CASE WHEN p.schedule_weekdays_only = 1 THEN 5.0 ELSE 7.0 END / (24.0 * 7)
        ) AS off_hours_possible,
        'weekdays-' || lpad(CAST(CAST(p.schedule_start_hour AS INTEGER) AS VARCHAR), 2, '0')
            || '-' || lpad(CAST(CAST(p.schedule_end_hour AS INTEGER) AS VARCHAR), 2, '0')
            AS weekday_schedule,
        'daily-' || lpad(CAST(CAST(p.schedule_start_hour AS INTEGER) AS VARCHAR), 2, '0')
            || '-' || lpad(CAST(CAST(p.schedule_end_hour AS INTEGER) AS VARCHAR), 2, '0')
            AS daily_schedule,
        p.schedule_weekdays_only,
        p.schedule_low_share,
        p.schedule_min_offhours_share,
        p.month_factor
    FROM candidates AS c
    INNER JOIN per_resource AS r
        ON c.account_id = r.account_id
        AND c.region = r.region
        AND c.resource_id = r.resource_id
        AND c.currency = r.currency
    CROSS JOIN rec_parameters AS p
)

SELECT
    'schedule' AS kind,
    account_id,
    region,
    resource_id,
    CASE service_code WHEN 'AmazonRDS' THEN 'rds:db' ELSE 'ec2:instance' END AS resource_type,
    service_code,
    team,
    env,
    currency,
    current_monthly_cost,
    off_schedule_cost * month_factor AS estimated_monthly_saving,
    off_schedule_cost * month_factor * schedule_low_share AS saving_low,
    off_schedule_cost * month_factor AS saving_high,
    co2e_kg_monthly * off_hours_billed / hours_billed AS co2e_kg_monthly_saved,
    CASE WHEN off_hours_billed >= 0.95 * off_hours_possible THEN 'high' ELSE 'medium' END
        AS confidence,
    instance_type || ' (env ' || env || ') billed ' || CAST(hours_billed AS VARCHAR)
        || ' hours in the window, ' || CAST(off_hours_billed AS VARCHAR)
        || ' of them outside the proposed schedule '
        || CASE WHEN schedule_weekdays_only = 1 THEN weekday_schedule ELSE daily_schedule END
        || ' (UTC' || CASE WHEN utc_offset >= 0 THEN '+' ELSE '' END
        || CAST(utc_offset AS VARCHAR) || '; an average window has about '
        || CAST(CAST(round(off_hours_possible, 0) AS INTEGER) AS VARCHAR)
        || ' such hours, its weekends decide); those hours cost '
        || CAST(round(off_schedule_cost, 2) AS VARCHAR) || ' ' || currency
        || ' at its billed rates. Tag it finops:schedule='
        || CASE WHEN schedule_weekdays_only = 1 THEN weekday_schedule ELSE daily_schedule END
        || ' to stop it outside those hours.' AS evidence,
    'apply_schedule_tag' AS action_name,
    '{"tag_key": "finops:schedule", "tag_value": "'
        || CASE WHEN schedule_weekdays_only = 1 THEN weekday_schedule ELSE daily_schedule END
        || '"}' AS action_parameters,
    CASE WHEN schedule_weekdays_only = 1 THEN weekday_schedule ELSE daily_schedule END
        AS schedule_name,
    off_hours_billed,
    off_hours_billed / off_hours_possible AS off_hours_share
FROM scored
WHERE off_hours_billed >= schedule_min_offhours_share * off_hours_possible
    AND off_schedule_cost > 0
