package storage

// DecodeBatches decodes every record of the whole batches in data (the
// bytes of a ReadResult) and returns those at or after offset from, with
// the offset after the last batch (never below from): the next offset to
// read. A read starts at the batch holding from, so its first records may
// precede it; compacted batches may have gaps. The returned records alias
// data.
func DecodeBatches(data []byte, from int64) ([]Record, int64, error) {
	var out []Record
	next := from
	for len(data) > 0 {
		h, err := ParseBatchHeader(data)
		if err != nil {
			return out, next, err
		}
		recs, err := DecodeRecords(data[:h.Size()])
		if err != nil {
			return out, next, err
		}
		for _, r := range recs {
			if r.Offset >= from {
				out = append(out, r)
			}
		}
		next = max(next, h.LastOffset()+1)
		data = data[h.Size():]
	}
	return out, next, nil
}
