package api

// Streams and buckets riskd creates. Their names, like the subjects
// below, are part of the wire contract (docs/wire.md).
const (
	// SignalsStream holds everything that changes state, in one order:
	// signals (risk.signals.>), profiles (risk.customers.>) and commands
	// (risk.actions.>).
	SignalsStream = "RISK_SIGNALS"
	// AlertsStream holds alerts (risk.alerts.>) and digests (risk.digest.>).
	AlertsStream = "RISK_ALERTS"
	// DLQStream holds rejected input (risk.dlq.>), the reason in ErrorHeader.
	DLQStream = "RISK_DLQ"
	// StateStream is riskd's checkpoint log: chunks of records on
	// StateRecordsSubject, each checkpoint closed by a commit on
	// StateCommitSubject.
	StateStream         = "RISK_STATE"
	StateRecordsSubject = "risk.state.records"
	StateCommitSubject  = "risk.state.commit"
	// PartitionsStream is RISK_SIGNALS split by customer when riskd runs
	// partitioned: it sources RISK_SIGNALS and NATS files every message
	// under PartitionPrefix<n>., n a hash of the customer's token
	// (docs/scaling.md).
	PartitionsStream = "RISK_PARTITIONS"
	// ClusterBucket holds the partition layout; LeasesBucket the members
	// of the riskd group and who owns which partition.
	ClusterBucket = "risk_cluster"
	LeasesBucket  = "risk_leases"
	// ProfilesBucket is the KV bucket where riskd keeps the profiles it
	// applied, for other readers (key: signals.SubjectToken of the id).
	ProfilesBucket = "risk_customers"
)

// Subjects riskd consumes or publishes besides signals, profiles and
// alerts.
const (
	// ActionPrefix starts the subject of a Command:
	// risk.actions.<customer-token>.
	ActionPrefix = "risk.actions."
	// DLQPrefix starts a rejected message's subject:
	// risk.dlq.<kind | customer | action | unknown>.
	DLQPrefix = "risk.dlq."
	// PartitionPrefix starts the subjects of RISK_PARTITIONS:
	// risk.p.<n>.signals.<kind>.<token>, risk.p.<n>.customers.<token>,
	// risk.p.<n>.actions.<token> and risk.p.<n>.clock.
	PartitionPrefix = "risk.p."
	// RoutePrefix is where RISK_PARTITIONS keeps signals published
	// without a customer token (risk.signals.<kind>), which NATS cannot
	// place: riskd places them again (docs/scaling.md).
	RoutePrefix = "risk.p.route."
	// PartitionAPIPrefix starts the subjects a partition's owner answers
	// on for the other riskd: risk.part.<n>.<operation>. Internal.
	PartitionAPIPrefix = "risk.part."
)

// Headers riskd sets.
const (
	// ErrorHeader on a DLQ entry is why it was rejected:
	// "<reason>: <field>: <message>".
	ErrorHeader = "Riskwatch-Error"
	// SubjectHeader on a DLQ entry is the subject it arrived on.
	SubjectHeader = "Riskwatch-Subject"
	// TruncatedHeader on a DLQ entry is the size of the original message
	// when only its start fitted under the NATS max payload.
	TruncatedHeader = "Riskwatch-Truncated"
	// SeqHeader on a profile in ProfilesBucket is the RISK_SIGNALS
	// sequence it was applied at.
	SeqHeader = "Riskwatch-Seq"
)

// The micro service: `nats micro ls` lists it as ServiceName, and its
// endpoints answer on ServiceGroup + "." + an Endpoint* subject.
const (
	ServiceName  = "riskwatch"
	ServiceGroup = "risk.api"

	EndpointCustomerGet    = "customer.get"
	EndpointExplain        = "explain"
	EndpointCustomerList   = "customer.list"
	EndpointCustomerPut    = "customer.put"
	EndpointAlertAck       = "alert.ack"
	EndpointCustomerSnooze = "customer.snooze"
	EndpointOutcomes       = "outcomes"
)
