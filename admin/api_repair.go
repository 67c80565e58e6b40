package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/rewindhq/rewind/broker"
)

// POST /api/v1/topics/{topic}/partitions/{partition}/repair, body
// {"dry_run": bool}: online repair of a fenced partition (`rewind repair
// --http`), see broker.RepairPartition. 200 with the report (the
// partition may still be fenced: see still_fenced), 404 for an unknown
// partition, 409 for one that is not fenced, 500 if the repair failed.
// Like every state-changing request it must be JSON and same-origin
// (guard).

type repairRequest struct {
	DryRun bool `json:"dry_run"`
}

func (s *Server) repair(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	p, err := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	if err != nil || p < 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("partition %q: want a partition number", r.PathValue("partition")))
		return
	}
	var req repairRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("repair request: %v", err))
		return
	}
	res, err := s.b.RepairPartition(topic, int32(p), req.DryRun)
	switch {
	case errors.Is(err, broker.ErrUnknownTopic):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, broker.ErrNotFenced):
		writeError(w, http.StatusConflict, err)
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, struct {
			Error string `json:"error"`
			broker.RepairResult
		}{err.Error(), res})
	default:
		writeJSON(w, http.StatusOK, res)
	}
}
