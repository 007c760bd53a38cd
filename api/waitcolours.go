package api

// The wait colours of a workstream (issue 13): the desk's list turns a
// customer's wait amber after amber_s and red after red_s seconds (defaults 120
// and 300). A sub-resource of the workstream, like its routing rules.

import (
	"net/http"

	"fbchannel/store"
)

func (s *Server) putWaitColours(w http.ResponseWriter, r *http.Request) {
	var in struct {
		AmberSeconds *int `json:"amber_s"`
		RedSeconds   *int `json:"red_s"`
	}
	if !decode(w, r, &in) {
		return
	}
	if in.AmberSeconds == nil || in.RedSeconds == nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "amber_s and red_s are both required (seconds).")
		return
	}
	c, err := s.Store.SetWaitColours(r.Context(), r.PathValue("id"), store.WaitColours{AmberSeconds: *in.AmberSeconds, RedSeconds: *in.RedSeconds})
	s.answer(w, r, http.StatusOK, c, err, "No workstream has this id.")
}
