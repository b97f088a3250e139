-- Hand-set marts for the dashboard and report tests, with exactly the columns of
-- /work/interfaces.md (the views other branches build). The expected figures in the tests are
-- worked out by hand from these rows.
--
-- June 2026 (30 days) has data to the 10th; May is complete. Two accounts:
--   A 111111111111: May EC2 10/day (unblended 12, net 9) + Support 100 on the 1st;
--                   June EC2 12/day (unblended 14, net 11) + Support 100 on the 1st.
--   B 222222222222: June S3 3/day (every measure).
CREATE TABLE daily_cost AS
SELECT
    usage_date::DATE AS usage_date,
    strftime(usage_date, '%Y-%m') AS billing_period,
    account_id,
    service_code,
    service,
    region,
    'USD' AS currency,
    unblended_cost::DOUBLE AS unblended_cost,
    amortized_cost::DOUBLE AS amortized_cost,
    net_amortized_cost::DOUBLE AS net_unblended_cost,
    net_amortized_cost::DOUBLE AS net_amortized_cost,
    unblended_cost::DOUBLE AS public_on_demand_cost,
    10::BIGINT AS line_items
FROM (
    SELECT DATE '2026-05-01' + INTERVAL (i) DAY AS usage_date, '111111111111' AS account_id,
        'AmazonEC2' AS service_code, 'Amazon Elastic Compute Cloud' AS service,
        'us-east-1' AS region, 12.0 AS unblended_cost, 10.0 AS amortized_cost,
        9.0 AS net_amortized_cost
    FROM range(31) t(i)
    UNION ALL
    SELECT DATE '2026-06-01' + INTERVAL (i) DAY, '111111111111', 'AmazonEC2',
        'Amazon Elastic Compute Cloud', 'us-east-1', 14.0, 12.0, 11.0
    FROM range(10) t(i)
    UNION ALL
    SELECT DATE '2026-06-01' + INTERVAL (i) DAY, '222222222222', 'AmazonS3',
        'Amazon Simple Storage Service', 'us-east-1', 3.0, 3.0, 3.0
    FROM range(10) t(i)
    UNION ALL
    SELECT DATE '2026-05-01', '111111111111', 'AWSSupportBusiness', 'AWS Support (Business)',
        'global', 100.0, 100.0, 100.0
    UNION ALL
    SELECT DATE '2026-06-01', '111111111111', 'AWSSupportBusiness', 'AWS Support (Business)',
        'global', 100.0, 100.0, 100.0
);

-- The extended showback: June team payments 150 + 20 shared, search 40 + 10, untagged 30
-- (total 250 amortized, as daily_cost); unblended 160 + 20, 45 + 10, 35 (total 270).
CREATE TABLE showback_monthly (
    billing_period VARCHAR, dimension VARCHAR, value VARCHAR, currency VARCHAR,
    direct_unblended_cost DOUBLE, shared_unblended_cost DOUBLE, unblended_cost DOUBLE,
    direct_amortized_cost DOUBLE, shared_amortized_cost DOUBLE, amortized_cost DOUBLE,
    direct_net_amortized_cost DOUBLE, shared_net_amortized_cost DOUBLE,
    net_amortized_cost DOUBLE
);
INSERT INTO showback_monthly VALUES
    ('2026-06', 'team', 'payments', 'USD', 160, 20, 180, 150, 20, 170, 135, 20, 155),
    ('2026-06', 'team', 'search', 'USD', 45, 10, 55, 40, 10, 50, 36, 10, 46),
    ('2026-06', 'team', '(untagged)', 'USD', 35, 0, 35, 30, 0, 30, 27, 0, 27),
    ('2026-06', 'env', 'prod', 'USD', 190, 20, 210, 180, 20, 200, 162, 20, 182),
    ('2026-06', 'env', 'dev', 'USD', 50, 10, 60, 40, 10, 50, 36, 10, 46),
    ('2026-05', 'team', 'payments', 'USD', 340, 20, 360, 280, 20, 300, 252, 20, 272),
    ('2026-05', 'team', 'search', 'USD', 90, 10, 100, 70, 10, 80, 63, 10, 73),
    ('2026-05', 'team', '(untagged)', 'USD', 36, 0, 36, 30, 0, 30, 27, 0, 27);

CREATE TABLE tag_coverage (
    billing_period VARCHAR, account_id VARCHAR, service VARCHAR, dimension VARCHAR,
    currency VARCHAR, tagged_amortized_cost DOUBLE, total_amortized_cost DOUBLE, coverage DOUBLE,
    tagged_line_items BIGINT, line_items BIGINT
);
INSERT INTO tag_coverage VALUES
    ('2026-06', '(all)', '(all)', 'team', 'USD', 220, 250, 0.88, 200, 230),
    ('2026-06', '(all)', '(all)', 'env', 'USD', 250, 250, 1.0, 230, 230);

CREATE TABLE anomalies (
    anomaly_id VARCHAR, kind VARCHAR, dimension VARCHAR, dimension_value VARCHAR,
    first_day DATE, last_day DATE, measure VARCHAR, currency VARCHAR, expected_cost DOUBLE,
    actual_cost DOUBLE, impact DOUBLE, impact_pct DOUBLE, score DOUBLE,
    projected_monthly_cost DOUBLE, root_cause VARCHAR, detected_at TIMESTAMP
);
INSERT INTO anomalies VALUES
    ('a-s3', 'spike', 'service', 'Amazon Simple Storage Service', '2026-06-03', '2026-06-04',
     'amortized_cost', 'USD', 4.0, 11.0, 7.0, 1.75, 5.1, NULL,
     '[{"dimension": "account", "value": "222222222222", "share": 0.8, "impact": 5.6},
       {"dimension": "usage_type", "value": "TimedStorage-ByteHrs", "share": 0.2, "impact": 1.4}]',
     '2026-06-05 06:00:00'),
    ('a-acct', 'trend', 'account', '111111111111', '2026-06-01', '2026-06-10', 'amortized_cost',
     'USD', 100.0, 120.0, 20.0, 0.2, 3.0, 360.0,
     '[{"dimension": "service", "value": "Amazon Elastic Compute Cloud", "share": 1.0,
        "impact": 20.0}]',
     '2026-06-11 06:00:00'),
    ('a-may', 'spike', 'total', 'total', '2026-05-20', '2026-05-20', 'amortized_cost', 'USD',
     10.0, 50.0, 40.0, 4.0, 9.0, NULL, '[]', '2026-05-21 06:00:00');

CREATE TABLE anomaly_days (
    anomaly_id VARCHAR, usage_date DATE, expected_cost DOUBLE, actual_cost DOUBLE
);
INSERT INTO anomaly_days VALUES
    ('a-s3', '2026-06-01', 2.0, 2.1), ('a-s3', '2026-06-02', 2.0, 1.9),
    ('a-s3', '2026-06-03', 2.0, 5.5), ('a-s3', '2026-06-04', 2.0, 5.5),
    ('a-s3', '2026-06-05', 2.0, 2.0);
INSERT INTO anomaly_days
SELECT 'a-acct', (DATE '2026-06-01' + INTERVAL (i) DAY)::DATE, 10.0 + i / 10, 10.0 + i / 2
FROM range(10) t(i);

-- Savings: 92 per month in all (62 to 122); team payments 22 (17 to 27).
-- Each resource counts once in the totals (total_*): the commitment's 40 shrinks to 32 beside
-- the graviton move, and the previous-generation move on the same instance adds nothing.
CREATE TABLE recommendations (
    recommendation_id VARCHAR, kind VARCHAR, account_id VARCHAR, region VARCHAR,
    resource_id VARCHAR, team VARCHAR, env VARCHAR, currency VARCHAR,
    current_monthly_cost DOUBLE, estimated_monthly_saving DOUBLE, saving_low DOUBLE,
    saving_high DOUBLE, co2e_kg_monthly_saved DOUBLE, confidence VARCHAR, evidence VARCHAR,
    action VARCHAR, counts_in_total BOOLEAN, total_monthly_saving DOUBLE,
    total_saving_low DOUBLE, total_saving_high DOUBLE, co2e_kg_total_saved DOUBLE
);
INSERT INTO recommendations VALUES
    ('r-graviton', 'graviton', '111111111111', 'us-east-1', 'i-0aaa', 'payments', 'prod', 'USD',
     100, 20, 15, 25, 5.0, 'high', 'm5.xlarge around the clock; m7g.xlarge is 20 % cheaper', '{}',
     true, 20, 15, 25, 5.0),
    ('r-prevgen', 'previous_generation', '111111111111', 'us-east-1', 'i-0aaa', 'payments',
     'prod', 'USD', 100, 8, 4, 8, 2.0, 'medium', 'm5 is a generation behind m7i', '{}',
     false, 0, 0, 0, 0.0),
    ('r-schedule', 'schedule', '111111111111', 'us-east-1', 'i-0bbb', 'search', 'dev', 'USD',
     50, 30, 25, 35, 3.0, 'medium', 'dev instance busy only in office hours', '{}',
     true, 30, 25, 35, 3.0),
    ('r-gp3', 'gp3', '222222222222', 'us-east-1', 'vol-0ccc', 'payments', 'prod', 'USD',
     10, 2, 2, 2, 0.5, 'high', 'gp2 volume, 100 GiB', '{}', true, 2, 2, 2, 0.5),
    ('r-commit', 'commitment', '111111111111', 'us-east-1', NULL, NULL, NULL, 'USD',
     200, 40, 20, 60, 0.0, 'medium', 'steady EC2 on demand: a 1-year Compute Savings Plan', '{}',
     true, 32, 16, 48, 0.0);

-- Carbon for June: 52 kg in all (operational 36, embodied 16); us-east-1 42, eu-west-1 10.
CREATE TABLE carbon_monthly (
    billing_period VARCHAR, account_id VARCHAR, service VARCHAR, region VARCHAR, team VARCHAR,
    env VARCHAR, energy_kwh DOUBLE, operational_co2e_kg DOUBLE, embodied_co2e_kg DOUBLE,
    co2e_kg DOUBLE
);
INSERT INTO carbon_monthly VALUES
    ('2026-06', '111111111111', 'Amazon Elastic Compute Cloud', 'us-east-1', 'payments', 'prod',
     100, 30, 10, 40),
    ('2026-06', '111111111111', 'Amazon Elastic Compute Cloud', 'eu-west-1', 'search', 'dev',
     50, 5, 5, 10),
    ('2026-06', '222222222222', 'Amazon Simple Storage Service', 'us-east-1', 'payments', 'prod',
     10, 1, 1, 2),
    ('2026-05', '111111111111', 'Amazon Elastic Compute Cloud', 'us-east-1', 'payments', 'prod',
     90, 27, 9, 36);

-- Commitments in June (days 1-10): Savings Plan 10/day, 8 used (80 %); RI 5/day, all used.
CREATE TABLE commitment_utilization_daily AS
SELECT
    (DATE '2026-06-01' + INTERVAL (i) DAY)::DATE AS usage_date,
    commitment_type,
    commitment_arn,
    '111111111111' AS account_id,
    'USD' AS currency,
    commitment_cost::DOUBLE AS commitment_cost,
    used_commitment_cost::DOUBLE AS used_commitment_cost,
    (commitment_cost - used_commitment_cost)::DOUBLE AS unused_commitment_cost,
    (used_commitment_cost / commitment_cost)::DOUBLE AS utilization
FROM range(10) t(i)
CROSS JOIN (VALUES
    ('savings_plan', 'arn:aws:savingsplans::111111111111:savingsplan/sp-1', 10.0, 8.0),
    ('reservation', 'arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-1', 5.0, 5.0)
) c(commitment_type, commitment_arn, commitment_cost, used_commitment_cost);

CREATE TABLE commitment_coverage_daily AS
SELECT
    (DATE '2026-06-01' + INTERVAL (i) DAY)::DATE AS usage_date,
    'savings_plan' AS commitment_type,
    'Amazon Elastic Compute Cloud' AS service,
    'USD' AS currency,
    8.0::DOUBLE AS covered_on_demand_cost,
    20.0::DOUBLE AS eligible_on_demand_cost,
    0.4::DOUBLE AS coverage
FROM range(10) t(i);

CREATE TABLE commitments_expiring (
    commitment_type VARCHAR, commitment_arn VARCHAR, account_id VARCHAR, end_date DATE,
    days_to_expiry INTEGER, monthly_commitment_cost DOUBLE, currency VARCHAR
);
INSERT INTO commitments_expiring VALUES
    ('reservation', 'arn:aws:ec2:us-east-1:111111111111:reserved-instances/ri-1',
     '111111111111', '2026-07-15', 35, 150.0, 'USD');

CREATE TABLE commitment_savings_monthly (
    billing_period VARCHAR, commitment_type VARCHAR, currency VARCHAR,
    on_demand_equivalent_cost DOUBLE, amortized_cost DOUBLE, realized_savings DOUBLE
);
INSERT INTO commitment_savings_monthly VALUES
    ('2026-06', 'savings_plan', 'USD', 130, 100, 30),
    ('2026-06', 'reservation', 'USD', 70, 50, 20);

CREATE TABLE instance_architecture_monthly (
    billing_period VARCHAR, account_id VARCHAR, service VARCHAR, team VARCHAR, env VARCHAR,
    processor_architecture VARCHAR, currency VARCHAR, unblended_cost DOUBLE,
    amortized_cost DOUBLE, net_amortized_cost DOUBLE, usage_quantity DOUBLE
);
INSERT INTO instance_architecture_monthly VALUES
    ('2026-06', '111111111111', 'Amazon Elastic Compute Cloud', 'payments', 'prod', 'arm64',
     'USD', 30, 30, 30, 240),
    ('2026-06', '111111111111', 'Amazon Elastic Compute Cloud', 'search', 'dev', 'x86_64',
     'USD', 90, 90, 90, 240);

CREATE TABLE invoice_reconciliation (
    billing_period VARCHAR, bill_invoice_id VARCHAR, currency VARCHAR,
    unblended_cost_line_items DOUBLE, unblended_cost_run_log DOUBLE, difference DOUBLE
);
INSERT INTO invoice_reconciliation VALUES ('2026-06', 'INV-1', 'USD', 270, 270, 0);
