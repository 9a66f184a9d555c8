"""Fleet provisioning: station registry and enrolment, broker accounts and ACL, the
deployment PKI, signed configuration, heartbeats."""
