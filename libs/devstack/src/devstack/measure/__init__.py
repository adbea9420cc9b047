"""What `make bench` measures beside its own HTTP and Kafka clients: the memory of a running
process (`memory`) and Postgres' own load tool, pgbench (`pgbench`), as baselines and figures
for bench/."""
