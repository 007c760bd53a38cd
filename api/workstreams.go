package api

import (
	"errors"
	"net/http"
	"strings"

	"fbchannel/store"
)

func (s *Server) getWorkstream(w http.ResponseWriter, r *http.Request) {
	ws, err := s.Store.GetWorkstream(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "No workstream has this id.")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ws)
}

// patchWorkstream changes a workstream's settings; absent fields stay as they are.
func (s *Server) patchWorkstream(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name          *string `json:"name"`
		HumanAgentTag *bool   `json:"human_agent_tag"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.Name != nil {
		trimmed := strings.TrimSpace(*in.Name)
		if !required(w, map[string]string{"name": trimmed}) {
			return
		}
		in.Name = &trimmed
	}
	ws, err := s.Store.UpdateWorkstream(r.Context(), r.PathValue("id"), store.WorkstreamChanges{Name: in.Name, HumanAgentTag: in.HumanAgentTag})
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "No workstream has this id.")
		return
	}
	if err != nil {
		s.internalError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ws)
}
