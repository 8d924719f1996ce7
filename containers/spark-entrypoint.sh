#!/usr/bin/env bash
# The Spark image's entrypoint. Spark on Kubernetes (and so the Spark operator) starts the
# driver pod with `driver ARGS` and executor pods with `executor` plus SPARK_* variables; any
# other command runs as given (`aktrec ...`, a shell).
set -euo pipefail

case "${1:-}" in
  driver)
    shift
    # In the driver pod spark-submit runs in client mode; cluster mode would submit again.
    exec tini -s -- "$SPARK_HOME/bin/spark-submit" --deploy-mode client \
      --conf "spark.driver.bindAddress=${SPARK_DRIVER_BIND_ADDRESS:-0.0.0.0}" "$@"
    ;;
  executor)
    shift
    : "${SPARK_DRIVER_URL:?the executor needs SPARK_DRIVER_URL}"
    exec tini -s -- java -Xms"${SPARK_EXECUTOR_MEMORY:-1g}" -Xmx"${SPARK_EXECUTOR_MEMORY:-1g}" \
      -cp "$SPARK_HOME/jars/*" org.apache.spark.executor.CoarseGrainedExecutorBackend \
      --driver-url "$SPARK_DRIVER_URL" --executor-id "$SPARK_EXECUTOR_ID" \
      --cores "${SPARK_EXECUTOR_CORES:-1}" --app-id "$SPARK_APPLICATION_ID" \
      --hostname "${SPARK_EXECUTOR_POD_IP:-$(hostname -i)}" \
      --resourceProfileId "${SPARK_RESOURCE_PROFILE_ID:-0}" "$@"
    ;;
  "")
    exec aktrec --help
    ;;
  *)
    exec "$@"
    ;;
esac
