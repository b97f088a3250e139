-- rec_graviton: x86 instances whose family has a Graviton equivalent (CUDOS's mapping), priced
-- with the equivalent's on-demand rate.
-- Grain: one row per instance of rec_instances with an x86 family in graviton_equivalents for its
--   service (EC2, RDS, ElastiCache, OpenSearch).
-- Inputs: rec_instances, graviton_equivalents, ec2_ondemand_prices, savings_assumptions,
--   carbon_family_watts, carbon_parameters.
-- Columns: the recommendation columns (see recommendations) plus target_instance_type.
-- Price, best source first (the evidence says which):
--   1. reference price of the target type in the instance's region, against the CUR's own public
--      on-demand rate of the current type: saving = cost x (1 - target price / current rate);
--   2. both types' us-east-1 reference prices: cost x (1 - target / current);
--   3. the family's .large price ratio in us-east-1 (graviton_equivalents);
--   4. CUDOS's stated percentage for the service and vendor (savings_assumptions).
-- Low and high: the same rule with the Graviton3 family of the same class (often cheaper than the
-- latest generation) and the latest Graviton; a negative saving is no recommendation.
-- CO2e saved: the instance's compute emissions x (1 - Graviton watts / current watts) at the
-- configured utilisation.
WITH candidates AS (
    SELECT
        i.*,
        g.x86_vendor,
        g.cudos_latest_graviton,
        g.graviton3_same_class,
        g.price_ratio_latest_graviton_vs_x86,
        i.family_prefix || g.cudos_latest_graviton || '.' || i.instance_size
            AS target_instance_type,
        g.cudos_latest_graviton || '.' || i.instance_size AS target_ec2_type,
        g.graviton3_same_class || '.' || i.instance_size AS graviton3_ec2_type,
        i.instance_family || '.' || i.instance_size AS current_ec2_type
    FROM rec_instances AS i
    INNER JOIN graviton_equivalents AS g
        ON i.instance_family = g.x86_family AND i.service_code = g.aws_service_cudos
    WHERE i.processor_architecture = 'x86_64'
),

priced AS (
    SELECT
        c.*,
        CASE
            WHEN c.service_code = 'AmazonEC2' AND target_here.ondemand_linux_usd_per_hour > 0
                AND c.public_rate > 0
                THEN target_here.ondemand_linux_usd_per_hour / c.public_rate
            WHEN c.service_code = 'AmazonEC2' AND target_use1.ondemand_linux_usd_per_hour > 0
                AND current_use1.ondemand_linux_usd_per_hour > 0
                THEN target_use1.ondemand_linux_usd_per_hour
                    / current_use1.ondemand_linux_usd_per_hour
            WHEN c.service_code = 'AmazonEC2' AND c.price_ratio_latest_graviton_vs_x86 > 0
                THEN c.price_ratio_latest_graviton_vs_x86
            ELSE 1 - stated.value / 100
        END AS price_ratio,
        CASE
            WHEN c.service_code = 'AmazonEC2' AND target_here.ondemand_linux_usd_per_hour > 0
                AND c.public_rate > 0
                THEN 'the reference on-demand price of ' || c.target_ec2_type || ' in ' || c.region
                    || ' (' || CAST(target_here.ondemand_linux_usd_per_hour AS VARCHAR)
                    || ' USD/h, ' || target_here.source || ') against the CUR''s public rate of '
                    || c.instance_type || ' (' || CAST(round(c.public_rate, 6) AS VARCHAR) || '/h)'
            WHEN c.service_code = 'AmazonEC2' AND target_use1.ondemand_linux_usd_per_hour > 0
                AND current_use1.ondemand_linux_usd_per_hour > 0
                THEN 'the us-east-1 reference prices of ' || c.target_ec2_type || ' ('
                    || CAST(target_use1.ondemand_linux_usd_per_hour AS VARCHAR) || ') and '
                    || c.current_ec2_type || ' ('
                    || CAST(current_use1.ondemand_linux_usd_per_hour AS VARCHAR) || ' USD/h, '
                    || target_use1.source || ')'
            WHEN c.service_code = 'AmazonEC2' AND c.price_ratio_latest_graviton_vs_x86 > 0
                THEN 'the .large price ratio of ' || c.cudos_latest_graviton || ' to '
                    || c.instance_family || ' in us-east-1 ('
                    || CAST(c.price_ratio_latest_graviton_vs_x86 AS VARCHAR) || ', KARPENTER-US)'
            ELSE 'the stated ratio ' || stated.assumption || ' = ' || CAST(stated.value AS VARCHAR)
                || '% (' || stated.source || '), no reference price for this service or type'
        END AS price_basis,
        CASE
            WHEN c.service_code = 'AmazonEC2' AND gv3_here.ondemand_linux_usd_per_hour > 0
                AND c.public_rate > 0
                THEN gv3_here.ondemand_linux_usd_per_hour / c.public_rate
            WHEN c.service_code = 'AmazonEC2' AND gv3_use1.ondemand_linux_usd_per_hour > 0
                AND current_use1.ondemand_linux_usd_per_hour > 0
                THEN gv3_use1.ondemand_linux_usd_per_hour
                    / current_use1.ondemand_linux_usd_per_hour
        END AS graviton3_price_ratio,
        CASE WHEN stated.value IS NULL THEN 'medium' ELSE 'low' END AS stated_confidence
    FROM candidates AS c
    LEFT JOIN ec2_ondemand_prices AS target_here
        ON c.target_ec2_type = target_here.instance_type AND c.region = target_here.region
    LEFT JOIN ec2_ondemand_prices AS target_use1
        ON c.target_ec2_type = target_use1.instance_type AND target_use1.region = 'us-east-1'
    LEFT JOIN ec2_ondemand_prices AS current_use1
        ON c.current_ec2_type = current_use1.instance_type AND current_use1.region = 'us-east-1'
    LEFT JOIN ec2_ondemand_prices AS gv3_here
        ON c.graviton3_ec2_type = gv3_here.instance_type AND c.region = gv3_here.region
    LEFT JOIN ec2_ondemand_prices AS gv3_use1
        ON c.graviton3_ec2_type = gv3_use1.instance_type AND gv3_use1.region = 'us-east-1'
    LEFT JOIN savings_assumptions AS stated
        ON stated.assumption = CASE c.service_code
            WHEN 'AmazonEC2' THEN 'ec2_graviton_potential_savings'
            WHEN 'AmazonRDS' THEN 'rds_graviton_potential_savings'
            WHEN 'AmazonElastiCache' THEN 'elasticache_graviton_potential_savings'
            WHEN 'AmazonES' THEN 'opensearch_graviton_potential_savings'
        END
        AND (c.service_code <> 'AmazonEC2' OR stated.applies_to LIKE 'EC2 ' || c.x86_vendor || '%')
),

watts AS (
    SELECT
        priced.*,
        current_watts.min_watts_per_vcpu + cp.cpu_utilization
            * (current_watts.max_watts_per_vcpu - current_watts.min_watts_per_vcpu)
            AS current_avg_watts,
        target_watts.min_watts_per_vcpu + cp.cpu_utilization
            * (target_watts.max_watts_per_vcpu - target_watts.min_watts_per_vcpu)
            AS target_avg_watts
    FROM priced
    CROSS JOIN (
        SELECT max(CASE WHEN parameter = 'cpu_utilization' THEN value END) AS cpu_utilization
        FROM carbon_parameters
    ) AS cp
    LEFT JOIN carbon_family_watts AS current_watts
        ON priced.instance_family = current_watts.instance_family
    LEFT JOIN carbon_family_watts AS target_watts
        ON priced.cudos_latest_graviton = target_watts.instance_family
)

SELECT
    'graviton' AS kind,
    account_id,
    region,
    resource_id,
    CASE service_code
        WHEN 'AmazonEC2' THEN 'ec2:instance'
        WHEN 'AmazonRDS' THEN 'rds:db'
        WHEN 'AmazonElastiCache' THEN 'elasticache:cluster'
        ELSE 'es:domain'
    END AS resource_type,
    service_code,
    team,
    env,
    currency,
    current_monthly_cost,
    current_monthly_cost * (1 - price_ratio) AS estimated_monthly_saving,
    current_monthly_cost * (1 - greatest(price_ratio, coalesce(graviton3_price_ratio, price_ratio)))
        AS saving_low,
    current_monthly_cost * (1 - least(price_ratio, coalesce(graviton3_price_ratio, price_ratio)))
        AS saving_high,
    CASE
        WHEN current_avg_watts > 0 AND target_avg_watts < current_avg_watts
            THEN operational_co2e_kg_monthly * (1 - target_avg_watts / current_avg_watts)
        ELSE 0
    END AS co2e_kg_monthly_saved,
    CASE
        WHEN price_basis LIKE 'the stated ratio%' THEN 'low'
        WHEN service_code = 'AmazonEC2' THEN 'medium'
        ELSE 'low'
    END AS confidence,
    instance_type || ' is x86 (' || x86_vendor || '); ' || target_instance_type
        || ' is its Graviton equivalent (CUDOS). ' || CAST(round(usage_hours, 1) AS VARCHAR)
        || ' on-demand or Savings Plan hours cost '
        || CAST(round(on_demand_cost, 2) AS VARCHAR) || ' ' || currency
        || CASE
            WHEN savings_plan_share > 0
                THEN ' (' || CAST(round(savings_plan_share * 100, 0) AS VARCHAR)
                    || '% of it under the Compute Savings Plan, at its effective cost: the '
                    || 'commitment it frees covers other usage)'
            ELSE ''
        END
        || ' in the window; priced with ' || price_basis
        || ': price ratio ' || CAST(round(price_ratio, 4) AS VARCHAR)
        || '. Needs an arm64 build of the workload.' AS evidence,
    'review' AS action_name,
    '{"target_instance_type": "' || target_instance_type || '"}' AS action_parameters,
    target_instance_type
FROM watts
WHERE price_ratio < 1
