-- carbon_line_items: estimated energy (kWh) and emissions (kg CO2e) of each usage line item,
-- following Cloud Carbon Footprint's (CCF) method for AWS billing data.
-- Grain: one row per usage line item (charge_category 'Usage') that has an estimate; lines of
--   services the method has no coefficient for (API calls, requests, licences) are left out.
-- Inputs: stg_line_items, carbon_coefficients, carbon_family_watts, carbon_region_factors,
--   carbon_parameters (seeds; finops.toml [carbon] overrides the parameters).
-- Columns: billing_period, usage_date, account_id, service, service_code, region, resource_id,
--   usage_type, instance_type, team, env, carbon_category ('compute', 'storage', 'memory',
--   'networking'), vcpu_hours, storage_tb_hours, network_gb, memory_gb_hours, compute_kwh,
--   memory_kwh, storage_kwh, networking_kwh, replication_factor, energy_kwh (all of them x PUE),
--   grid_co2e_kg_per_kwh, operational_co2e_kg, embodied_co2e_kg, co2e_kg.
--
-- The method, per line item:
--   compute    vCPU-hours x (min W + utilisation x (max W - min W)) / 1000. Watts per vCPU by
--              the family's microarchitecture (carbon_family_watts, derived from CCF's mapping),
--              the AWS average (0.74/3.5 W) for families CCF does not map. Utilisation: the
--              burstable baseline for t2/t3/t3a/t4g sizes, else cpu_utilization (CCF: 50%).
--              Instance hours of EC2 (on-demand, reserved, Spot), RDS, ElastiCache and
--              OpenSearch; Fargate vCPU-hours; Lambda GB-seconds at 1,792 MB per vCPU.
--              RDS Multi-AZ counts its standby (x2).
--   memory     instances: GB above the vCPU share of one chip's SPECpower baseline
--              (memory_gb - gb_per_chip x vCPU / embodied_server_vcpus) x 0.000392 kWh/GB-h;
--              Fargate GB-hours in full.
--   storage    TB-hours x 1.2 Wh (SSD) or 0.65 Wh (HDD) / 1000 x replication factor; usage
--              types in GB-Mo become TB-hours over the billing period's hours. SSD: EBS gp2,
--              gp3, io1, io2, RDS and Aurora storage, DynamoDB; HDD: EBS st1, sc1 and magnetic,
--              snapshots, S3, Glacier, RDS backups, EFS.
--   networking GB between AWS regions or zones (usage types ending AWS-Out-Bytes, and
--              DataTransfer-Regional-Bytes) x 0.001 kWh/GB; transfer to the internet excluded,
--              as in CCF.
--   energy     the sum x PUE 1.135; operational CO2e = energy x the region's grid factor (CCF's,
--              t/kWh x 1000), the CCF average for regions without one.
--   embodied   compute only: vCPU-hours x embodied_server_kg / embodied_server_vcpus /
--              server_lifespan_hours (CCF amortises a server's manufacturing over 4 years).
WITH coefficients AS (
    SELECT
        max(CASE WHEN parameter = 'memory_coefficient' THEN value END) AS memory_kwh_per_gb_hour,
        max(CASE WHEN parameter = 'storage_coefficient' AND key = 'SSD' THEN value END)
            AS ssd_wh_per_tb_hour,
        max(CASE WHEN parameter = 'storage_coefficient' AND key = 'HDD' THEN value END)
            AS hdd_wh_per_tb_hour,
        max(CASE WHEN parameter = 'networking_coefficient' THEN value END) AS network_kwh_per_gb,
        max(CASE WHEN parameter = 'pue' THEN value END) AS pue,
        max(CASE WHEN parameter = 'lambda_assumption' THEN value END) AS lambda_mb_per_vcpu,
        max(CASE WHEN parameter = 'replication_factor' AND key = 'S3' THEN value END) AS rf_s3,
        max(
            CASE WHEN parameter = 'replication_factor' AND key = 'S3_ONE_ZONE_REDUCED_REDUNDANCY'
                THEN value END
        ) AS rf_s3_one_zone,
        max(CASE WHEN parameter = 'replication_factor' AND key = 'EC2_EBS_VOLUME' THEN value END)
            AS rf_ebs_volume,
        max(CASE WHEN parameter = 'replication_factor' AND key = 'EC2_EBS_SNAPSHOT' THEN value END)
            AS rf_ebs_snapshot,
        max(CASE WHEN parameter = 'replication_factor' AND key = 'EFS' THEN value END) AS rf_efs,
        max(CASE WHEN parameter = 'replication_factor' AND key = 'RDS_BACKUP' THEN value END)
            AS rf_rds_backup,
        max(CASE WHEN parameter = 'replication_factor' AND key = 'RDS_AURORA' THEN value END)
            AS rf_rds_aurora,
        max(CASE WHEN parameter = 'replication_factor' AND key = 'RDS_MULTI_AZ' THEN value END)
            AS rf_rds_multi_az,
        max(CASE WHEN parameter = 'replication_factor' AND key = 'DYNAMO_DB' THEN value END)
            AS rf_dynamodb
    FROM carbon_coefficients
),

settings AS (
    SELECT
        max(CASE WHEN parameter = 'cpu_utilization' THEN value END) AS cpu_utilization,
        max(CASE WHEN parameter = 'embodied_server_kg' THEN value END) AS embodied_server_kg,
        max(CASE WHEN parameter = 'embodied_server_vcpus' THEN value END)
            AS embodied_server_vcpus,
        max(CASE WHEN parameter = 'server_lifespan_hours' THEN value END)
            AS server_lifespan_hours
    FROM carbon_parameters
),

burstable AS (
    SELECT key AS instance_type, value / 100 AS baseline_utilization
    FROM carbon_coefficients
    WHERE parameter = 'burstable_baseline_cpu_utilization'
),

fallback_watts AS (
    SELECT
        max(CASE WHEN parameter = 'min_watts_per_vcpu' THEN value END) AS min_watts,
        max(CASE WHEN parameter = 'max_watts_per_vcpu' THEN value END) AS max_watts
    FROM carbon_coefficients
    WHERE key LIKE 'AWS average%'
),

usage AS (
    SELECT
        billing_period,
        usage_date,
        account_id,
        service,
        service_code,
        region,
        resource_id,
        usage_type,
        instance_type,
        -- db.r5 -> r5, cache.t3 -> t3: the processor is the EC2 family's.
        regexp_replace(instance_family, '^(db|cache)\.', '') AS ec2_family,
        team,
        env,
        coalesce(usage_quantity, 0) AS quantity,
        TRY_CAST(product['vcpu'] AS DOUBLE) AS vcpu,
        TRY_CAST(
            replace(regexp_extract(product['memory'], '^ *([0-9][0-9,.]*)', 1), ',', '') AS DOUBLE
        ) AS memory_gb,
        24.0 * coalesce(
            date_diff('day', bill_billing_period_start_date, bill_billing_period_end_date), 30
        ) AS period_hours
    FROM stg_line_items
    WHERE charge_category = 'Usage'
),

classified AS (
    SELECT
        usage.*,
        CASE
            WHEN instance_type IS NOT NULL AND regexp_matches(
                usage_type,
                '(BoxUsage|SpotUsage|DedicatedUsage|HostUsage|InstanceUsage|Multi-AZUsage'
                    || '|NodeUsage|ESInstance)'
            ) THEN 'instance'
            WHEN usage_type LIKE '%Fargate-vCPU-Hours%' THEN 'fargate_vcpu'
            WHEN usage_type LIKE '%Fargate-GB-Hours%' THEN 'fargate_memory'
            WHEN usage_type LIKE '%Lambda-GB-Second%' THEN 'lambda'
            WHEN usage_type LIKE '%AWS-Out-Bytes' OR usage_type LIKE '%DataTransfer-Regional-Bytes'
                THEN 'networking'
            WHEN usage_type LIKE '%EBS:VolumeUsage.gp%' OR usage_type LIKE '%EBS:VolumeUsage.io%'
                OR usage_type LIKE '%EBS:VolumeUsage.piops%' THEN 'ebs_ssd'
            WHEN usage_type LIKE '%EBS:VolumeUsage%' THEN 'ebs_hdd'
            WHEN usage_type LIKE '%EBS:SnapshotUsage%' THEN 'ebs_snapshot'
            WHEN service_code IN ('AmazonS3', 'AmazonGlacier') AND usage_type LIKE '%TimedStorage%'
                THEN CASE
                    WHEN usage_type LIKE '%ZIA%' OR usage_type LIKE '%RRS%' THEN 's3_one_zone'
                    ELSE 's3'
                END
            WHEN service_code = 'AmazonEFS' AND usage_type LIKE '%TimedStorage%' THEN 'efs'
            WHEN service_code = 'AmazonDynamoDB' AND usage_type LIKE '%TimedStorage%'
                THEN 'dynamodb'
            WHEN service_code = 'AmazonRDS' AND usage_type LIKE '%ChargedBackupUsage%'
                THEN 'rds_backup'
            WHEN service_code = 'AmazonRDS' AND usage_type LIKE '%Aurora:StorageUsage%'
                THEN 'rds_aurora'
            WHEN service_code = 'AmazonRDS' AND usage_type LIKE '%Multi-AZ%Storage%'
                THEN 'rds_multi_az_storage'
            WHEN service_code = 'AmazonRDS' AND usage_type LIKE '%Storage%'
                AND usage_type NOT LIKE '%IOUsage%' THEN 'rds_storage'
        END AS usage_class
    FROM usage
),

measured AS (
    SELECT
        classified.*,
        CASE
            WHEN usage_class = 'instance'
                THEN quantity * coalesce(vcpu, 0)
                    * CASE WHEN usage_type LIKE '%Multi-AZUsage%' THEN 2 ELSE 1 END
            WHEN usage_class = 'fargate_vcpu' THEN quantity
            WHEN usage_class = 'lambda'
                THEN quantity * 1024 / coefficients.lambda_mb_per_vcpu / 3600
            ELSE 0
        END AS vcpu_hours,
        CASE
            WHEN usage_class = 'instance'
                THEN quantity * greatest(
                    0,
                    coalesce(memory_gb, 0) - coalesce(family.memory_gb_per_physical_chip, 0)
                        * coalesce(vcpu, 0) / settings.embodied_server_vcpus
                ) * CASE WHEN usage_type LIKE '%Multi-AZUsage%' THEN 2 ELSE 1 END
            WHEN usage_class = 'fargate_memory' THEN quantity
            ELSE 0
        END AS memory_gb_hours,
        CASE
            WHEN usage_class IN (
                'ebs_ssd', 'ebs_hdd', 'ebs_snapshot', 's3', 's3_one_zone', 'efs', 'dynamodb',
                'rds_backup', 'rds_aurora', 'rds_multi_az_storage', 'rds_storage'
            ) THEN quantity * period_hours / 1000
            ELSE 0
        END AS storage_tb_hours,
        CASE
            WHEN usage_class IN (
                'ebs_ssd', 'dynamodb', 'rds_aurora', 'rds_multi_az_storage', 'rds_storage'
            ) THEN coefficients.ssd_wh_per_tb_hour
            ELSE coefficients.hdd_wh_per_tb_hour
        END AS storage_wh_per_tb_hour,
        CASE usage_class
            WHEN 'ebs_ssd' THEN coefficients.rf_ebs_volume
            WHEN 'ebs_hdd' THEN coefficients.rf_ebs_volume
            WHEN 'ebs_snapshot' THEN coefficients.rf_ebs_snapshot
            WHEN 's3' THEN coefficients.rf_s3
            WHEN 's3_one_zone' THEN coefficients.rf_s3_one_zone
            WHEN 'efs' THEN coefficients.rf_efs
            WHEN 'dynamodb' THEN coefficients.rf_dynamodb
            WHEN 'rds_backup' THEN coefficients.rf_rds_backup
            WHEN 'rds_aurora' THEN coefficients.rf_rds_aurora
            WHEN 'rds_multi_az_storage' THEN coefficients.rf_rds_multi_az
            ELSE 1
        END AS replication_factor,
        CASE WHEN usage_class = 'networking' THEN quantity ELSE 0 END AS network_gb,
        coalesce(family.min_watts_per_vcpu, fallback_watts.min_watts) AS min_watts,
        coalesce(family.max_watts_per_vcpu, fallback_watts.max_watts) AS max_watts,
        CASE
            WHEN usage_class = 'instance'
                THEN coalesce(burstable.baseline_utilization, settings.cpu_utilization)
            ELSE settings.cpu_utilization
        END AS utilization
    FROM classified
    CROSS JOIN coefficients
    CROSS JOIN settings
    CROSS JOIN fallback_watts
    LEFT JOIN carbon_family_watts AS family
        ON classified.usage_class = 'instance' AND classified.ec2_family = family.instance_family
    LEFT JOIN burstable
        ON regexp_replace(classified.instance_type, '^(db|cache)\.', '') = burstable.instance_type
    WHERE classified.usage_class IS NOT NULL
),

energy AS (
    SELECT
        measured.*,
        vcpu_hours * (min_watts + utilization * (max_watts - min_watts)) / 1000 AS compute_kwh,
        memory_gb_hours * coefficients.memory_kwh_per_gb_hour AS memory_kwh,
        storage_tb_hours * storage_wh_per_tb_hour / 1000 * replication_factor AS storage_kwh,
        network_gb * coefficients.network_kwh_per_gb AS networking_kwh,
        coefficients.pue
    FROM measured
    CROSS JOIN coefficients
),

grid AS (
    SELECT region_code, co2e_t_per_kwh * 1000 AS co2e_kg_per_kwh
    FROM carbon_region_factors
)

SELECT
    energy.billing_period,
    energy.usage_date,
    energy.account_id,
    energy.service,
    energy.service_code,
    energy.region,
    energy.resource_id,
    energy.usage_type,
    energy.instance_type,
    energy.team,
    energy.env,
    CASE
        WHEN energy.usage_class IN ('instance', 'fargate_vcpu', 'lambda') THEN 'compute'
        WHEN energy.usage_class = 'fargate_memory' THEN 'memory'
        WHEN energy.usage_class = 'networking' THEN 'networking'
        ELSE 'storage'
    END AS carbon_category,
    energy.vcpu_hours,
    energy.storage_tb_hours,
    energy.network_gb,
    energy.memory_gb_hours,
    energy.compute_kwh,
    energy.memory_kwh,
    energy.storage_kwh,
    energy.networking_kwh,
    energy.replication_factor,
    (energy.compute_kwh + energy.memory_kwh + energy.storage_kwh + energy.networking_kwh)
        * energy.pue AS energy_kwh,
    coalesce(grid.co2e_kg_per_kwh, fallback.co2e_kg_per_kwh) AS grid_co2e_kg_per_kwh,
    (energy.compute_kwh + energy.memory_kwh + energy.storage_kwh + energy.networking_kwh)
        * energy.pue * coalesce(grid.co2e_kg_per_kwh, fallback.co2e_kg_per_kwh)
        AS operational_co2e_kg,
    energy.vcpu_hours * settings.embodied_server_kg / settings.embodied_server_vcpus
        / settings.server_lifespan_hours AS embodied_co2e_kg,
    (energy.compute_kwh + energy.memory_kwh + energy.storage_kwh + energy.networking_kwh)
        * energy.pue * coalesce(grid.co2e_kg_per_kwh, fallback.co2e_kg_per_kwh)
        + energy.vcpu_hours * settings.embodied_server_kg / settings.embodied_server_vcpus
        / settings.server_lifespan_hours AS co2e_kg
FROM energy
CROSS JOIN settings
LEFT JOIN grid ON energy.region = grid.region_code
CROSS JOIN (SELECT co2e_kg_per_kwh FROM grid WHERE region_code = 'Unknown') AS fallback
