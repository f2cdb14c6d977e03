# The task's config block, as in a job file with driver = "rsexec".
command = "/bin/sh"
args = [
  "-c",
  "trap 'echo got SIGTERM, leaving; exit 0' TERM; i=0; while true; do i=$((i+1)); echo \"tick $i from $NOMAD_TASK_NAME\"; sleep 0.5; done",
]
env = {
  GREETING = "hello from the demo"
}
