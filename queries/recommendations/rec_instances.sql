-- rec_instances: compute instances billed on demand or under a Savings Plan in the lookback
-- window, with their rates,
-- hours and emissions: the input of the graviton, spot, schedule and previous_generation kinds.
-- Grain: account_id x region x resource_id x currency (EC2 instances, RDS instances, ElastiCache
--   nodes, OpenSearch instances with on-demand or Savings Plan instance-hour lines in the window).
-- Inputs: stg_line_items, carbon_line_items, environment_classes, rec_parameters.
-- Columns: account_id, region, resource_id, currency, service_code, instance_type,
--   instance_family (EC2 family: db./cache. removed), instance_size, family_prefix ('', 'db.',
--   'cache.'), processor_architecture, team, env, is_production (NULL when env is unknown),
--   autoscaling_group, workload, billed_hours (distinct usage hours), usage_hours,
--   on_demand_cost (amortized cost of those lines: on-demand at its rate, Savings Plan hours at
--   their effective cost), savings_plan_share (of that cost), public_rate (public on-demand cost
--   per hour, from the CUR), current_monthly_cost (on_demand_cost scaled to a month),
--   co2e_kg_monthly (the instance's compute emissions scaled to a month),
--   operational_co2e_kg_monthly.
-- Reserved hours are left out: a reservation is tied to its instance type and region, so moving
-- them saves nothing until it ends. Compute Savings Plan hours count at their effective cost: the
-- commitment they free covers other eligible usage (as CUDOS counts them), which the evidence
-- says; the saving is real only while other on-demand usage can absorb it.
WITH instance_lines AS (
    SELECT
        line.account_id,
        line.region,
        line.resource_id,
        line.currency,
        line.service_code,
        line.instance_type,
        line.processor_architecture,
        line.team,
        line.env,
        line.tags['awsautoscalinggroupname'] AS autoscaling_group,
        coalesce(line.tags['workload'], line.tags['workloadtype']) AS workload,
        line.line_item_usage_start_date AS usage_start,
        line.usage_quantity,
        line.amortized_cost,
        CASE WHEN line.pricing_model = 'savings_plan' THEN line.amortized_cost ELSE 0 END
            AS savings_plan_cost,
        line.public_on_demand_cost
    FROM stg_line_items AS line
    CROSS JOIN rec_parameters AS p
    WHERE line.pricing_model IN ('on_demand', 'savings_plan')
        -- The negation line repeats the covered hour; its cost is in the covered line.
        AND line.line_item_type <> 'SavingsPlanNegation'
        AND line.resource_id IS NOT NULL
        AND line.instance_type IS NOT NULL
        AND regexp_matches(
            line.usage_type, '(BoxUsage|InstanceUsage|Multi-AZUsage|NodeUsage|ESInstance)'
        )
        AND date_diff('day', line.usage_date, p.last_usage_date) < p.lookback_days
),

instances AS (
    SELECT
        account_id,
        region,
        resource_id,
        currency,
        max(service_code) AS service_code,
        max_by(instance_type, usage_start) AS instance_type,
        max_by(processor_architecture, usage_start) AS processor_architecture,
        max(team) AS team,
        max(env) AS env,
        max(autoscaling_group) AS autoscaling_group,
        max(workload) AS workload,
        count(DISTINCT date_trunc('hour', usage_start)) AS billed_hours,
        sum(usage_quantity) AS usage_hours,
        sum(amortized_cost) AS on_demand_cost,
        sum(savings_plan_cost) AS savings_plan_cost,
        sum(public_on_demand_cost) AS public_on_demand_cost
    FROM instance_lines
    GROUP BY account_id, region, resource_id, currency
),

emissions AS (
    SELECT
        carbon.account_id,
        carbon.region,
        carbon.resource_id,
        sum(carbon.co2e_kg) AS co2e_kg,
        sum(carbon.operational_co2e_kg) AS operational_co2e_kg
    FROM carbon_line_items AS carbon
    CROSS JOIN rec_parameters AS p
    WHERE carbon.carbon_category = 'compute'
        AND date_diff('day', carbon.usage_date, p.last_usage_date) < p.lookback_days
    GROUP BY carbon.account_id, carbon.region, carbon.resource_id
)

SELECT
    instances.account_id,
    instances.region,
    instances.resource_id,
    instances.currency,
    instances.service_code,
    instances.instance_type,
    regexp_extract(instances.instance_type, '^(db\.|cache\.)?([^.]+)\.', 2) AS instance_family,
    regexp_extract(instances.instance_type, '^(db\.|cache\.)?[^.]+\.(.+)$', 2) AS instance_size,
    regexp_extract(instances.instance_type, '^(db\.|cache\.)?', 1) AS family_prefix,
    instances.processor_architecture,
    instances.team,
    instances.env,
    CASE WHEN classes.is_production IS NULL THEN NULL ELSE classes.is_production END
        AS is_production,
    instances.autoscaling_group,
    instances.workload,
    instances.billed_hours,
    instances.usage_hours,
    instances.on_demand_cost,
    instances.savings_plan_cost / instances.on_demand_cost AS savings_plan_share,
    CASE
        WHEN instances.usage_hours > 0
            THEN instances.public_on_demand_cost / instances.usage_hours
    END AS public_rate,
    instances.on_demand_cost * p.month_factor AS current_monthly_cost,
    coalesce(emissions.co2e_kg, 0) * p.month_factor AS co2e_kg_monthly,
    coalesce(emissions.operational_co2e_kg, 0) * p.month_factor AS operational_co2e_kg_monthly
FROM instances
CROSS JOIN rec_parameters AS p
LEFT JOIN environment_classes AS classes ON instances.env = classes.env
LEFT JOIN emissions
    ON instances.account_id = emissions.account_id
    AND instances.region = emissions.region
    AND instances.resource_id = emissions.resource_id
WHERE instances.on_demand_cost > 0
