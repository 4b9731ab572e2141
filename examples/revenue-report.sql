-- Monthly revenue by market segment, written to .kiln-data/reports/revenue
-- as Parquet partitioned by order year; then the top months are shown.
CREATE EXTERNAL TABLE customer STORED AS PARQUET LOCATION '.kiln-data/tpch-sf0.1/customer/';
CREATE EXTERNAL TABLE orders   STORED AS PARQUET LOCATION '.kiln-data/tpch-sf0.1/orders/';

CREATE VIEW monthly AS
SELECT date_part('year', o_orderdate) AS order_year,
       date_part('month', o_orderdate) AS order_month,
       c_mktsegment AS segment,
       count(*) AS orders,
       sum(o_totalprice) AS revenue
FROM orders JOIN customer ON o_custkey = c_custkey
GROUP BY 1, 2, 3;

COPY (SELECT * FROM monthly) TO '.kiln-data/reports/revenue/' STORED AS PARQUET PARTITIONED BY (order_year);

SELECT order_year, order_month, segment, revenue
FROM monthly
ORDER BY revenue DESC
LIMIT 5;
