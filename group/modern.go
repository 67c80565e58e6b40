package group

// Groups of Kafka 4's consumer protocol (KIP-848) are held by package
// group/consumer, not by this coordinator. Their offsets are still
// committed and fetched here, as ordinary OffsetCommit records of an
// offsets-only group (a group id is either classic or consumer, as in
// Kafka, whose OffsetMetadataManager serves both types): only the
// membership check is theirs, asked through Config.Modern.

// ModernGroups answers the membership checks of consumer-protocol groups.
// Its methods are called with no lock of this coordinator held and must
// not call it.
type ModernGroups interface {
	// CommitCheck tells whether group is a consumer-protocol group and,
	// if it is, validates an OffsetCommit of version v (a TxnOffsetCommit
	// if txn) from memberID (instanceID) at epoch (its generation id):
	// code refuses every partition; otherwise partition, if not nil,
	// answers each partition (0: accepted).
	CommitCheck(group, memberID string, instanceID *string, epoch int32, v int16, txn bool) (modern bool, code int16, partition func(topic string, p int32) int16)
	// FetchCheck tells whether group is a consumer-protocol group and, if
	// it is, validates an OffsetFetch (v9+) from memberID at epoch: code
	// is the group's error.
	FetchCheck(group string, memberID *string, epoch int32) (modern bool, code int16)
}

// ModernGroupInfo is a consumer-protocol group as ListGroups shows it.
type ModernGroupInfo struct {
	Name  string
	State string // Empty, Assigning, Reconciling, Stable
	// Type is "consumer" or "share" (a share group, KIP-932); "" is
	// "consumer". ListGroups shows it as the protocol type too.
	Type string
}

// ModernLister is what ListGroups, DescribeGroups and DeleteGroups ask of
// the consumer-protocol groups (Config.Modern may implement it).
type ModernLister interface {
	// ModernGroups returns the consumer-protocol groups.
	ModernGroups() []ModernGroupInfo
	// IsModern tells whether group is a consumer-protocol group.
	IsModern(group string) bool
	// CheckDelete tells whether group may be deleted: NON_EMPTY_GROUP
	// while it has members, 0 otherwise.
	CheckDelete(group string) int16
	// Delete removes the group, once its offsets' tombstones are
	// durable: it writes the group's own tombstones and waits for them,
	// returning the group's error code (0: deleted).
	Delete(group string) int16
}

func (c *Coordinator) lister() ModernLister {
	l, _ := c.cfg.Modern.(ModernLister)
	return l
}

// ModernExpiry is what offset expiry asks of the consumer-protocol groups
// (Config.Modern may implement it). Its method is called with the
// offsets-only group's lock held and must not call this coordinator.
type ModernExpiry interface {
	// SubscribedTo tells whether group is a consumer-protocol group one of
	// whose members subscribes to topic (by name or regex): as Kafka 4.4's
	// OffsetMetadataManager.cleanupExpiredOffsets skips the topics a group
	// is subscribed to, their offsets do not expire.
	SubscribedTo(group, topic string) bool
}

func (m ModernGroupInfo) typ() string {
	if m.Type == "" {
		return "consumer"
	}
	return m.Type
}
