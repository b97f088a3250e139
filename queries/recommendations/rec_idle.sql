-- rec_idle: resources that bill while doing nothing: idle Elastic IPs, NAT gateways and load
-- balancers with little or no traffic, EBS volumes with no instance in their zone, snapshots
-- older than a threshold.
-- Grain: one row per idle resource (account_id x region x resource_id x currency).
-- Inputs: stg_line_items, carbon_line_items, rec_parameters.
-- Columns: the recommendation columns (see recommendations) plus idle_reason.
-- Rules, from the CUR's usage types and resource ids in the lookback window:
--   Elastic IP   lines of usage type ElasticIP:IdleAddress or PublicIPv4:IdleAddress (AWS bills
--                an address as idle only while it is not associated with a running instance);
--                saving = those lines' cost.
--   NAT gateway  NatGateway-Hours billed with fewer than idle_nat_gb_per_day GB of
--                NatGateway-Bytes per billed day; saving = all its cost.
--   load balancer LoadBalancerUsage hours with fewer than idle_load_balancer_gb_per_day GB
--                (DataProcessing-Bytes) or LCU-hours (LCUUsage) per billed day; saving = all
--                its cost.
--   EBS volume   billed while no instance hour was billed in its account and availability zone
--                (the CUR does not record attachments, so a volume whose zone has instances is
--                not called unattached; volumes without a zone in the CUR are skipped).
--   snapshot     billed for longer than snapshot_max_age_days in the data (its age before the
--                first month of data is unknown, so this is a lower bound).
-- CO2e saved: the resource's emissions in the window, scaled to a month.
WITH lines AS (
    SELECT
        line.account_id,
        line.region,
        line.resource_id,
        line.currency,
        line.service_code,
        line.usage_type,
        line.usage_date,
        line.line_item_availability_zone AS availability_zone,
        line.team,
        line.env,
        line.amortized_cost,
        coalesce(line.usage_quantity, 0) AS usage_quantity
    FROM stg_line_items AS line
    CROSS JOIN rec_parameters AS p
    WHERE line.charge_category = 'Usage'
        AND line.resource_id IS NOT NULL
        AND date_diff('day', line.usage_date, p.last_usage_date) < p.lookback_days
),

resources AS (
    SELECT
        account_id,
        region,
        resource_id,
        currency,
        max(service_code) AS service_code,
        max(team) AS team,
        max(env) AS env,
        max(availability_zone) AS availability_zone,
        count(DISTINCT usage_date) AS billed_days,
        sum(amortized_cost) AS window_cost,
        sum(CASE
            WHEN usage_type LIKE '%ElasticIP:IdleAddress%'
                OR usage_type LIKE '%PublicIPv4:IdleAddress%' THEN amortized_cost
            ELSE 0
        END) AS idle_address_cost,
        sum(CASE
            WHEN usage_type LIKE '%ElasticIP:IdleAddress%'
                OR usage_type LIKE '%PublicIPv4:IdleAddress%' THEN usage_quantity
            ELSE 0
        END) AS idle_address_hours,
        sum(CASE WHEN usage_type LIKE '%NatGateway-Hours%' THEN usage_quantity ELSE 0 END)
            AS nat_hours,
        sum(CASE WHEN usage_type LIKE '%NatGateway-Bytes%' THEN usage_quantity ELSE 0 END)
            AS nat_gb,
        sum(CASE WHEN usage_type LIKE '%LoadBalancerUsage%' THEN usage_quantity ELSE 0 END)
            AS lb_hours,
        sum(CASE
            WHEN usage_type LIKE '%DataProcessing-Bytes%' OR usage_type LIKE '%LCUUsage%'
                THEN usage_quantity
            ELSE 0
        END) AS lb_traffic,
        sum(CASE WHEN usage_type LIKE '%EBS:VolumeUsage%' THEN amortized_cost ELSE 0 END)
            AS volume_cost,
        sum(CASE WHEN usage_type LIKE '%EBS:SnapshotUsage%' THEN amortized_cost ELSE 0 END)
            AS snapshot_cost
    FROM lines
    GROUP BY account_id, region, resource_id, currency
),

instance_zones AS (
    SELECT DISTINCT account_id, line_item_availability_zone AS availability_zone
    FROM stg_line_items AS line
    CROSS JOIN rec_parameters AS p
    WHERE line.instance_type IS NOT NULL
        AND line.charge_category = 'Usage'
        AND regexp_matches(line.usage_type, '(BoxUsage|SpotUsage|DedicatedUsage|HostUsage)')
        AND date_diff('day', line.usage_date, p.last_usage_date) < p.lookback_days
),

snapshot_ages AS (
    SELECT account_id, region, resource_id, min(usage_date) AS first_billed
    FROM stg_line_items
    WHERE usage_type LIKE '%EBS:SnapshotUsage%'
    GROUP BY account_id, region, resource_id
),

emissions AS (
    SELECT carbon.account_id, carbon.region, carbon.resource_id, sum(carbon.co2e_kg) AS co2e_kg
    FROM carbon_line_items AS carbon
    CROSS JOIN rec_parameters AS p
    WHERE date_diff('day', carbon.usage_date, p.last_usage_date) < p.lookback_days
    GROUP BY carbon.account_id, carbon.region, carbon.resource_id
),

idle AS (
    SELECT
        r.*,
        CASE
            WHEN r.idle_address_cost > 0 THEN 'elastic_ip'
            WHEN r.nat_hours > 0 AND r.nat_gb < p.idle_nat_gb_per_day * r.billed_days
                THEN 'nat_gateway'
            WHEN r.lb_hours > 0 AND r.lb_traffic < p.idle_load_balancer_gb_per_day * r.billed_days
                THEN 'load_balancer'
            WHEN r.volume_cost > 0 AND r.availability_zone IS NOT NULL AND zones.account_id IS NULL
                THEN 'unattached_volume'
            WHEN r.snapshot_cost > 0
                AND date_diff('day', ages.first_billed, p.last_usage_date) > p.snapshot_max_age_days
                THEN 'old_snapshot'
        END AS idle_reason,
        date_diff('day', ages.first_billed, p.last_usage_date) AS snapshot_age_days,
        p.month_factor
    FROM resources AS r
    CROSS JOIN rec_parameters AS p
    LEFT JOIN instance_zones AS zones
        ON r.account_id = zones.account_id AND r.availability_zone = zones.availability_zone
    LEFT JOIN snapshot_ages AS ages
        ON r.account_id = ages.account_id AND r.region = ages.region
        AND r.resource_id = ages.resource_id
)

SELECT
    'idle' AS kind,
    idle.account_id,
    idle.region,
    idle.resource_id,
    CASE idle.idle_reason
        WHEN 'elastic_ip' THEN 'ec2:elastic-ip'
        WHEN 'nat_gateway' THEN 'ec2:natgateway'
        WHEN 'load_balancer' THEN 'elasticloadbalancing:loadbalancer'
        WHEN 'unattached_volume' THEN 'ec2:volume'
        ELSE 'ec2:snapshot'
    END AS resource_type,
    idle.service_code,
    idle.team,
    idle.env,
    idle.currency,
    idle.window_cost * idle.month_factor AS current_monthly_cost,
    CASE WHEN idle.idle_reason = 'elastic_ip' THEN idle.idle_address_cost ELSE idle.window_cost END
        * idle.month_factor AS estimated_monthly_saving,
    CASE WHEN idle.idle_reason = 'elastic_ip' THEN idle.idle_address_cost ELSE idle.window_cost END
        * idle.month_factor AS saving_low,
    CASE WHEN idle.idle_reason = 'elastic_ip' THEN idle.idle_address_cost ELSE idle.window_cost END
        * idle.month_factor AS saving_high,
    coalesce(emissions.co2e_kg, 0) * idle.month_factor AS co2e_kg_monthly_saved,
    CASE idle.idle_reason
        WHEN 'elastic_ip' THEN 'high'
        WHEN 'unattached_volume' THEN 'high'
        WHEN 'old_snapshot' THEN 'low'
        ELSE 'medium'
    END AS confidence,
    CASE idle.idle_reason
        WHEN 'elastic_ip' THEN 'Elastic IP billed '
            || CAST(round(idle.idle_address_hours, 1) AS VARCHAR)
            || ' idle-address hours (' || CAST(round(idle.idle_address_cost, 2) AS VARCHAR) || ' '
            || idle.currency || ') in the window: AWS bills it as not associated with a running '
            || 'instance. Release it.'
        WHEN 'nat_gateway' THEN 'NAT gateway billed ' || CAST(round(idle.nat_hours, 1) AS VARCHAR)
            || ' hours but processed ' || CAST(round(idle.nat_gb, 3) AS VARCHAR) || ' GB over '
            || CAST(idle.billed_days AS VARCHAR) || ' days (threshold '
            || CAST(idle.billed_days * p.idle_nat_gb_per_day AS VARCHAR) || ' GB); it cost '
            || CAST(round(idle.window_cost, 2) AS VARCHAR) || ' ' || idle.currency || '.'
        WHEN 'load_balancer' THEN 'Load balancer billed '
            || CAST(round(idle.lb_hours, 1) AS VARCHAR)
            || ' hours with ' || CAST(round(idle.lb_traffic, 3) AS VARCHAR)
            || ' GB or LCU-hours of traffic over ' || CAST(idle.billed_days AS VARCHAR)
            || ' days; it cost ' || CAST(round(idle.window_cost, 2) AS VARCHAR) || ' '
            || idle.currency || '.'
        WHEN 'unattached_volume' THEN 'EBS volume billed '
            || CAST(round(idle.volume_cost, 2) AS VARCHAR)
            || ' ' || idle.currency || ' in ' || idle.availability_zone
            || ' where the account billed no instance hour in the window: nothing can be '
            || 'attached to it. Snapshot, then delete.'
        ELSE 'Snapshot billed for ' || CAST(idle.snapshot_age_days AS VARCHAR)
            || ' days in the data (threshold ' || CAST(p.snapshot_max_age_days AS VARCHAR)
            || '); it cost ' || CAST(round(idle.window_cost, 2) AS VARCHAR) || ' ' || idle.currency
            || ' in the window. Check it is not a backup still needed, then delete.'
    END AS evidence,
    CASE idle.idle_reason
        WHEN 'elastic_ip' THEN 'release_elastic_ip'
        WHEN 'nat_gateway' THEN 'delete_nat_gateway'
        WHEN 'load_balancer' THEN 'delete_load_balancer'
        WHEN 'unattached_volume' THEN 'delete_volume'
        ELSE 'delete_snapshot'
    END AS action_name,
    '{}' AS action_parameters,
    idle.idle_reason
FROM idle
CROSS JOIN rec_parameters AS p
LEFT JOIN emissions
    ON idle.account_id = emissions.account_id AND idle.region = emissions.region
    AND idle.resource_id = emissions.resource_id
WHERE idle.idle_reason IS NOT NULL AND idle.window_cost > 0
