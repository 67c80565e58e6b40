// Package storage is Rewind's durable partition log: one directory per
// partition holding Kafka-style segment files, a sparse offset index and a
// time index per segment, a producer-state snapshot and a checkpoint.
//
// # Using it
//
//	l, err := storage.Open(dir, storage.DefaultConfig(), storage.Options{Fsync: storage.FsyncAlways})
//	res, err := l.Append(records)                 // Produce: validates, assigns offsets
//	err = l.WaitDurable(ctx, res.LastOffset+1)    // acks: fsynced under FsyncAlways
//	rr, err := l.Read(offset, maxBytes, true)     // Fetch: byte ranges of segment files
//	defer rr.Release()
//	ch := l.Changed()                             // long poll: wait for the HW to move
//	err = l.Err()                                 // non-nil once the log is fenced
//
// Read returns whole batches as byte ranges of segment files (it may span
// segments), never past the high watermark, with the offsets it saw
// (ReadResult.HighWatermark, LogStartOffset, LogEndOffset) so a fetch
// response is consistent. OffsetForTimestamp and MaxTimestamp serve
// ListOffsets; DeleteRecordsBefore and ApplyRetention delete whole
// segments. SetLeaderEpoch stamps the partition leader epoch into appended
// batches.
//
// Record batches are stored exactly as produced (magic v2 only). Append
// validates the framing (length, magic, size, CRC-32C, record count) and
// the records of every batch, and rewrites only the base offset, plus the
// max timestamp, timestamp type and CRC under LogAppendTime. As Kafka
// does, compressed batches are decompressed once on the append path to
// check their records (streamed through a small buffer; a batch that does
// not decompress is refused with ErrCorruptMessage rather than stored to
// fail every consumer); they are never recompressed, and the fetch path
// never decompresses. Decompression is bounded (codec.go): at most
// DecompressLimit(max.message.bytes) bytes per batch, zstd windows of at
// most 128 MiB with the history cut to what a frame can use, and one
// broker-wide budget for every decoder's buffers, for which decodes wait;
// past a bound the batch is ErrCorruptMessage. PreviewBatch reads stored
// records the same streamed way for inspection (the admin message
// browser), keeping only a bounded part of each.
//
// # Durability and visibility
//
// Under FsyncAlways a background syncer fsyncs whatever has been appended
// and then advances the high watermark (HW); appends arriving during an
// fsync are covered by the next one (group commit), so WaitDurable callers
// share fsyncs. Readers never see offsets at or above the HW, so they never
// see data a crash could remove. Under FsyncInterval (background fsync every
// Options.FsyncInterval) and FsyncNever the HW is the log end offset.
//
// # The journal of many logs
//
// Logs opened with Options.Journal under FsyncAlways (the broker's
// __consumer_offsets partitions) share one write-ahead Journal instead of
// each fsyncing its segment: Append writes the batches to the segment as
// usual and then, as one entry, to the journal file; the journal's syncer
// fdatasyncs that file once per round for every entry of every log
// written meanwhile and then advances each of those logs' HW
// (WaitDurable and Changed unchanged). Rounds may overlap
// (JournalOptions.RoundsInFlight, one at a time by default, which
// measured best) and are applied in order,
// so a failed fsync fences the journal before any later round
// acknowledges anything. One fdatasync thus serves the
// commits of many groups on many partitions, where per-log fsyncs served
// only the few waiting on each. Segments are fsynced when they roll (as
// for any log) and at a checkpoint: when the journal file passes
// JournalOptions.MaxBytes (64 MiB), new entries go to a new file (made
// durable, header included, before its first entry), every attached log
// fsyncs its segments, and only then are the older files removed. At
// start, OpenJournal indexes the entries, and Open of each journaled log
// first recovers the log (opened without the journal and closed), then
// appends the batches of its entries past the recovered end to the
// active segment as they were written (batches below the end skipped, a
// gap ends that log's replay) and fsyncs it; the Open proper then
// recovers the longer segment like any crash tail, so the replayed
// batches are checked, indexed and rebuild the producer and transaction
// state exactly as batches a crash left would. Journal.Recover, once
// every log is open, removes the old files and starts the syncer. A
// clean Close of every log and then of the journal leaves one empty file.
//
// The journal file is preallocated: before an entry would pass the file's
// length it is grown with zeros (64 KiB, then doubling up to
// JournalOptions.Prealloc, 4 MiB; never past MaxBytes), and entries are
// written over them at their position. A round's fdatasync then writes
// the entries' pages alone, not the inode as well, as it must when each
// entry grows the file, so a commit waits less than the machine's
// append-and-fdatasync. The zeros
// past the last entry are the journal's end, as the end of the file
// would be (the replay reads them as such, not as a torn entry); only the
// current file has them, as no preallocation passes MaxBytes, where the
// checkpoint switches files. A full disk only stops the preallocation
// (the entry is written as without it); any other failed write of it
// fences the journal, as a failed entry write does. A write rolled back
// after a full disk leaves the file dirty, so the next round fsyncs the
// truncation before anything later is acknowledged.
//
// Why no acknowledged append is lost: an append is acknowledged after a
// round fsynced its file up to its entry; the round that switched files
// had fsynced the older file whole first; a file is removed only after
// every log that wrote to it fsynced its segments, and an Append writes
// its segment before its entry. So every acknowledged entry, and every
// entry of the same log before it, is either on disk in a live journal
// file, before the first torn one (where the replay stops: nothing after
// it was acknowledged), or in its segment. A log opened again while the
// journal runs (repair, a recreated partition) first writes a reset
// entry, durable before it serves: the replay ignores the entries of the
// same partition before it, which belong to the log it replaces. A log
// closed while fenced, whose segments may lack its acknowledged appends,
// keeps the journal files until it is opened again or the next start
// replays them. A failed journal fsync or write fences the journal and
// every log using it (ENOSPC is rolled back, with the segment write,
// durably). The journal is ignored under FsyncInterval and FsyncNever,
// whose appends wait for no fsync.
//
// Journal files, dir/<name>.<generation, 20 digits>.journal, replayed in
// generation order:
//
//	header: | "RWJL" | version uint16=1 | reserved uint16 | generation uint64 | crc32c uint32 |
//	entry:  | crc32c uint32 | length uint32 | kind uint8 | partition int32 | base offset int64 | payload |
//	  length counts the bytes after it; the CRC covers the file's
//	  generation and every byte after the CRC field, so an entry of
//	  another generation never passes. kind 1: payload is the record
//	  batches of one Append, as written to the segment; kind 2: reset.
//
// An fsync failure fences the log: the page cache can no longer be trusted
// to hold what was written, so the error is never retried into a success.
// Every later Append, Read and WaitDurable returns an error matching
// ErrStorage. A write failing with ENOSPC/EDQUOT is rolled back (truncated)
// and the log stays usable; other write failures fence it.
//
// # Concurrency
//
// Appends are serialized per log (appendMu); validation and CRC checking
// run before that lock. Compaction's swap of sealed segments takes another
// lock (segMu, which retention, DeleteRecordsBefore and Close take too),
// so appends go on while it renames, removes and syncs the directory. Reads take a short read lock to find the segment
// and the HW, then read files without locks. Segment files are reference
// counted: a ReadResult keeps its files open until Release even if
// retention deletes the segment. No lock is shared between logs.
//
// # Open files
//
// A segment's .log file is opened when first used, not by Open, and logs
// sharing a Handles (Options.Handles; a broker shares one) keep at most
// its bound of them open: past it the least recently used idle files are
// closed (CLOCK order) and reopened by name when next needed, so a broker
// with many partitions needs no high descriptor limit. A file in use is
// pinned and never closed under its user: a ReadResult until Release, an
// append or fsync for its call; a file with writes not yet fsynced is
// closed only when no clean idle one is left (its fsync then reopens it:
// fsync flushes the file whatever descriptor wrote it; if the reopen fails,
// out of descriptors, nothing was fsynced and the round is retried, the
// log is not fenced). At most 64 fsyncs run at once. A segment that retention or
// compaction takes out of the log while a reader still holds it keeps its
// file open until that reader lets go, since its name then names no file,
// or the compacted one. Index, checkpoint and snapshot files are opened
// only for the moment they are read or written.
//
// # Recovery
//
// Close writes the indexes, a producer snapshot and a checkpoint flagged
// clean; Open then trusts the files and skips scanning. Open rewrites the
// checkpoint as not clean before anything changes the files: after a
// recovery before it returns, after a clean shutdown in the background
// while holding appendMu (every change takes it), so reads are served at
// once (Options.OpenedAll holds it back until a broker has opened all its
// logs). Without a clean checkpoint, Open
// scans every segment from the checkpoint's recovery point (under
// FsyncAlways and FsyncInterval each roll fsyncs the old segment and
// moves the recovery point, so that is only the last segment) batch by
// batch: length, magic, contiguous offsets (increasing offsets in sealed
// segments, where compaction leaves gaps), CRC-32C. The first bad batch of
// the last segment starts a torn tail, which is truncated (and logged with
// slog). Indexes are rebuilt from the scanned batches. Missing or damaged
// index files of older segments are rebuilt from their .log file, and so
// are the active segment's (loaded from their files after a clean
// shutdown) when a lookup finds an entry that does not match the log.
//
// A crash only tears the end of what was written, so a bad batch in the
// last segment is not taken for a torn tail when it cannot be one: when it
// lies in the part of the segment that Open found durable (recorded in the
// checkpoint it writes), or when valid batches continuing the offsets
// follow it and no zeroed 512-byte sector (a block lost with the page
// cache), nor zeros from the bad batch to the end of its sector (the block
// of the file's earlier end, not written again), explains the damage.
// That is corruption in the middle of the segment, treated as below:
// truncating it would delete acknowledged records after it.
//
// Corruption anywhere else (a bad batch in an older segment, found by a
// scan, an index rebuild or a read) fences the log instead of deleting
// data: Open succeeds, Err reports the error, and data methods return it
// (matching both ErrStorage and ErrCorruption). The files are left as they
// are for an operator. One exception: an older segment whose bad region is
// all zeros up to its end is an unflushed tail and is truncated; the
// offsets it held are lost and reads skip the gap. Under FsyncNever, where
// rolls fsync nothing, every segment the recovery scan reads is judged as
// the last one is (a torn tail is truncated, with the same gap).
//
// Files missing or cut by something other than Rewind are not taken for an
// empty or shorter log: Open compares the files with the checkpoint (the
// segment that was active and how many of its bytes were durable, the log
// start) and fences a log holding less than it recorded (a missing or
// shortened active segment, missing first segments, index files whose .log
// is gone), leaving the files and the checkpoint as they are.
//
// Repair (closed log only) makes a fenced log usable again by giving up
// what cannot be trusted: it truncates at the first bad batch in offset
// order, removes the segments after it, accepts missing files as lost,
// and reports what went (offsets, bytes, and the records it can still
// decode, for the broker to name the consumer groups whose commits went).
// Offsets are never reused: the log continues after the last offset the
// files or the checkpoint still show.
//
// Producer state (per producer id: epoch, the last five batches'
// sequences and offsets, the coordinator epoch of its last marker and its
// open transaction) is snapshotted at each roll and on Close, and rebuilt
// by replaying batch headers (and markers) after the newest usable
// snapshot; see Transactions.
//
// # Transactions
//
// Transactional batches (attribute bit 4) are accepted from a producer id
// and update its producer state as Kafka's ProducerStateManager does: the
// producer's first transactional batch opens its transaction at that
// offset; while it is open a non-transactional batch of the producer is
// ErrInvalidTxnState. AppendMarker writes the commit or abort marker that
// ends it: a control batch (attributes transactional|control, no
// sequence) of one record, key ControlRecordKey{version 0, type 1 commit
// / 0 abort}, value EndTxnMarker{version 0, coordinator epoch}, encoded
// with kmsg. A marker with an older producer epoch (transaction version 2:
// not newer) is ErrInvalidProducerEpoch, one of an older coordinator
// epoch ErrTransactionCoordinatorFenced; nothing is written then.
//
//	l.Append(txnBatch)                          // opens pid's transaction at its offset
//	res, err := l.AppendMarker(pid, epoch, coordEpoch, commit, txnVersion)
//	err = l.WaitDurable(ctx, res.LastOffset+1)
//	lso := l.LastStableOffset()                 // read_committed reads below it
//	rr, err := l.ReadCommitted(offset, maxBytes, true)
//	aborted := l.AbortedTransactions(offset, rr.NextOffset)
//
// The last stable offset (LSO) is the first offset of the oldest open
// transaction, or of one whose marker is not yet below the high watermark
// (a crash could still lose that marker), capped by the HW and at least
// the log start. ReadCommitted never returns a batch at or above it. An
// abort of an open transaction adds an AbortedTxn (producer id, first
// offset, marker offset, the LSO once the marker was written) to the
// aborted-transaction index of the segment holding the marker, kept in
// memory for every segment and written as <base>.txnindex (Kafka's
// format) when the segment is sealed and on Close; AbortedTransactions(from,
// upTo) searches those from the segment holding from, stopping at an
// entry whose LSO reaches upTo, as Kafka's collectAbortedTransactions.
// Producers lists the producer state for DescribeProducers; producers
// with an open transaction never expire.
//
// Snapshots hold each producer's coordinator epoch and open transaction.
// Recovery loads the .txnindex files of the segments below the recovery
// scan (one without a file has no aborted transaction: the file is
// fsynced before the recovery point passes it, and under FsyncNever by a
// clean Close) and rebuilds the index of the others, with the open
// transactions: the active segment after a crash (its index is written
// only at a roll or a clean Close), every segment the scan reads (under
// FsyncNever its file, written unsynced, may have lost entries and its tail
// the markers the file names; the file's entries whose abort marker is
// still there are added where the rebuild found none), and one whose file
// is damaged. It replays the batches (markers read whole) after the newest
// snapshot at or below the first of those, and writes the rebuilt indexes
// of sealed segments before the checkpoint moves on. A roll that could not
// write the sealed segment's .txnindex leaves the recovery point where it
// was, so a crash rebuilds it. A file is trusted over the log: once
// compaction has removed an aborted transaction's records, only the index
// remembers it (a damaged index of a compacted segment loses those).
//
// Compaction cleans only segments wholly below the LSO, drops the records
// of aborted transactions and never lets them supersede others (Kafka's
// cleaner keeps them out of its offset map), keeping an aborted batch as
// an empty header where it is its producer's last batch. Markers go as
// Kafka's cleaner removes them (compact_txn.go): a marker stays while a
// record of its transaction is in the log when a run starts; the first
// run that finds none sets its delete horizon (attribute bit 6, the first
// timestamp now + delete.retention.ms, each record's timestamp delta
// moved so that its timestamp stays) and drops the transaction's
// aborted-index entry; the first run after the horizon removes it. A
// producer's last marker of its current epoch stays (emptied, once
// removable) for the epoch that fences its older instances; the replay
// takes an emptied marker's epoch. Merged segments carry the old
// segments' index entries that stay, written over <base>.txnindex before
// the swap commits (the file removed when none stays: the entries lost
// should the swap not commit are of transactions with no record left);
// Open keeps only the entries whose marker lies in a segment, so a
// compaction that did not commit leaves nothing wrong.
//
// # Compaction
//
// Compact (cleanup.policy=compact; the broker runs it on __consumer_offsets)
// rewrites the closed segments that lie wholly below the high watermark;
// the active segment is never touched (CompactPolicy.MaxCompactionLag may
// roll it first). A run maps every key to its latest record, sizes what
// each segment keeps, then writes groups of adjacent segments whose kept
// bytes fit in segment.bytes as one segment named after the first. For
// each key the latest record stays; a superseded record stays while its
// timestamp, or that of the record that superseded it, is within
// HistoryRetention (so the record current at any time of the window stays:
// where a group stood then can still be read); a latest record that is a
// tombstone stays for DeleteRetention, then goes with every older record
// of its key; records without a key stay; records below the log start go.
//
// Keys are held in an offset map of fixed size (CompactPolicy.
// DedupeBufferSize, Kafka's log.cleaner.dedupe.buffer.size; 32 MiB by
// default, about 1.25 million keys): 24-byte slots of a 128-bit SHA-256
// hash and the offset of the key's latest record, filled to 90%. Under a
// history window the map also holds, for each superseded record older
// than the window whose successor is within it, that successor's
// timestamp. Runs take the one map of the process in turn. When the keys
// do not fit, a run cleans in passes over consecutive offset ranges: a
// pass maps the keys from where the previous one stopped until the map is
// full, reads on to the end updating those keys only, then rewrites the
// segments of its range, judging only the records of that range. Each
// record is judged once, knowing its key's latest record and its own
// successor, so the result is the same as with room for every key; a run
// costs one more read of the rest of the log per pass.
//
// Kept records keep their offsets, their bytes and their batch: a batch
// keeping every record is copied as is; one losing some is rebuilt with the
// same header (base offset, last offset delta, leader epoch, producer id,
// epoch and base sequence, attributes, first timestamp) and the same codec,
// with its record count, max timestamp and CRC recomputed; one losing all
// goes, unless it is an idempotent producer's last batch, which stays as a
// header with no records (Kafka's cleaner does the same), or the log's
// last batch while the active segment is empty. Consumers skip the gaps,
// as with Kafka. The log start offset does not move.
//
// Each group is swapped in crash-safely, with the append lock held only
// for the swap:
//
//	write <base>.cleaned, fsync          crash: Open deletes it
//	rename to <base>-<end>.swap, fsync   commit; crash: Open completes:
//	remove the old .index/.timeindex,      removes every segment file with
//	  and .log files but <base>.log, fsync a base in [base, end), then
//	rename the .swap over <base>.log       renames the .swap to <base>.log
//	switch segments in memory, write indexes
//
// An I/O error before the commit leaves the log as it was; one after
// fences it until reopened. Readers holding a replaced segment keep its
// open file; a read that crosses into a merged segment resumes at the end
// of the one it left, so it sees each segment either before or after, never
// a mix, and misses nothing. Compaction state (what the last run read and
// when a record it kept becomes removable) is in memory only, so a run
// that would change nothing is skipped without reading the segments.
//
// # On-disk format (format version 1)
//
// A partition directory:
//
//	00000000000000000000.log        segment: batches with offsets from 0
//	00000000000000000000.index      its sparse offset index
//	00000000000000000000.timeindex  its time index
//	00000000000000004242.log        next segment: first offset 4242 ...
//	00000000000000004242.snapshot   producer state as of offset 4242
//	00000000000000004242.txnindex   aborted transactions whose abort
//	                                marker is in that segment (if any)
//	checkpoint                      log start, recovery point, clean flag
//	00000000000000000000.cleaned    compaction output, not yet committed
//	00000000000000000000-00000000000000004242.swap
//	                                committed compaction output replacing the
//	                                segments with bases in [0, 4242)
//
// A .log file is a sequence of Kafka v2 record batches, byte for byte as a
// Kafka broker would store them (all integers big endian):
//
//	+------------+--------+-------------+-------+--------+
//	| baseOffset | length | leaderEpoch | magic | crc32c |   <- crc32c covers
//	|   int64    | int32  |    int32    | int8=2| uint32 |      attributes..end
//	+------------+--------+-------------+-------+--------+
//	| attributes | lastOffsetDelta | firstTimestamp | maxTimestamp |
//	|   int16    |      int32      |     int64      |    int64     |
//	+------------+-----------------+----------------+--------------+
//	| producerId | producerEpoch | baseSequence | numRecords | records ... |
//	|   int64    |     int16     |    int32     |   int32    | length-49 B |
//	+------------+---------------+--------------+------------+-------------+
//	  length counts every byte after the length field (header: 61 bytes)
//
// The .index file holds 8-byte entries, one per IndexIntervalBytes of log
// (and for the first batch), mapping a batch's base offset to its byte
// position; both strictly increase:
//
//	+---------------------------------+-------------------+
//	| offset - segment base (uint32)  | position (uint32) |
//	+---------------------------------+-------------------+
//
// The .timeindex file holds 12-byte entries (T, O): T is the largest batch
// MaxTimestamp seen so far in the segment and O the base offset (relative)
// of the batch that has it; T strictly increases. The last entry is the
// segment's largest timestamp (written when the segment is sealed):
//
//	+-------------------+---------------------------------+
//	| timestamp (int64) | offset - segment base (uint32)  |
//	+-------------------+---------------------------------+
//
// Unlike Kafka, index files are not preallocated: the active segment's
// indexes live in memory and are written whole when the segment is sealed
// or the log closed; after a crash they are rebuilt by the recovery scan.
//
// The checkpoint (52 bytes), replaced atomically (write checkpoint.tmp,
// fsync, rename, fsync the directory); when the file system is full
// (ENOSPC) it is overwritten in place, one 52-byte write and an fsync, so
// that Open, retention and DeleteRecords work on a full disk:
//
//	+--------+---------+-------+----------+---------------+
//	| "RWCK" | version | flags | logStart | recoveryPoint |
//	|   4 B  | uint16=1| uint16|  int64   |     int64     |
//	+--------+---------+-------+----------+---------------+
//	| logEndOffset | activeBase | activeSize | crc32c of all before |
//	|    int64     |   int64    |   int64    |        uint32        |
//	+--------------+------------+------------+----------------------+
//	  flags bit 0: clean shutdown; the last three fields describe the
//	  log at that moment and must match the files for Open to trust them.
//	  Not clean (written by Open): activeBase and activeSize give the
//	  segment that was active and how many of its bytes were durable
//	  (0, 0 under FsyncNever after a crash); logEndOffset is 0.
//
// The .txnindex file is Kafka's: 34-byte entries in marker order,
//
//	+---------------+------------+-------------+------------+------------------+
//	| version int16 | producerId | firstOffset | lastOffset | lastStableOffset |
//	|      = 0      |   int64    |    int64    |   int64    |      int64       |
//	+---------------+------------+-------------+------------+------------------+
//
// A producer snapshot, <offset>.snapshot (version 2; version 1, still
// read, has no coordinatorEpoch and txnFirstOffset):
//
//	"RWPS" | version uint16=2 | reserved uint16 | offset int64 | count uint32
//	count x ( producerId int64 | epoch int16 | coordinatorEpoch int32 |
//	          txnFirstOffset int64 (-1: no open transaction) |
//	          lastAppendMs int64 | n uint8 |
//	          n x ( firstSeq int32 | lastSeq int32 | firstOffset int64 |
//	                lastOffset int64 | timestamp int64 ) )
//	crc32c uint32 of all before
//
// # Format versions and migration
//
// Version 1 is the first format. The .log files are Kafka's and will not
// change. The checkpoint and snapshot carry their own version: a reader
// meeting an unknown version treats the file as absent (a checkpoint then
// means a full recovery scan, a snapshot a replay of batch headers), so a
// downgrade is safe. A change to the index formats must bump a version
// recorded in the checkpoint and rebuild indexes on first open.
//
// Transactions add the .txnindex files and snapshot version 2. A build
// from before them ignores version 2 snapshots (replaying batch headers
// instead) and does not know markers or open transactions: it would serve
// aborted records to read_committed consumers. Downgrade only a log
// without transactions.
//
// Compaction adds no format: cleaned segments are ordinary .log files with
// gaps between batches, as Kafka's are. A build from before compaction
// can read them but must not recover them (it expects contiguous offsets
// and would fence the log on a scan) nor meet a .swap file; downgrade only
// after a clean shutdown, from a log whose checkpoint is clean.
package storage
