package api

import (
	"net/http"

	"fbchannel/store"
)

// pageWithImport is GET /api/v1/pages/{id}: the page, its import_history_days
// and its history import's progress ("import": null before one started).
type pageWithImport struct {
	store.Page
	ImportHistoryDays int                  `json:"import_history_days"`
	Import            *store.HistoryImport `json:"import"`
}

func (s *Server) writePageWithImport(w http.ResponseWriter, r *http.Request, p store.Page) {
	out := pageWithImport{Page: p}
	var err error
	if out.ImportHistoryDays, err = s.Store.ImportHistoryDays(r.Context(), p.ID); err == nil {
		out.Import, err = s.Store.GetHistoryImport(r.Context(), p.ID)
	}
	if s.answerStoreError(w, r, err, "No page has this id.") {
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func validImportHistoryDays(days *int) error {
	if days != nil && (*days < 0 || *days > store.MaxImportHistoryDays) {
		return invalidf("import_history_days must be a whole number of days from 0 (import nothing) to %d.", store.MaxImportHistoryDays)
	}
	return nil
}

// patchPage: PATCH /api/v1/pages/{id} {"import_history_days"}: how much
// history the page imports when it is connected (or reconnected after a
// failed import).
func (s *Server) patchPage(w http.ResponseWriter, r *http.Request) {
	var in struct {
		ImportHistoryDays *int `json:"import_history_days"`
	}
	if !decode(w, r, &in) {
		return
	}
	err := validImportHistoryDays(in.ImportHistoryDays)
	if err == nil && in.ImportHistoryDays == nil {
		err = invalidf("Nothing to change: send {\"import_history_days\": 30} (0 imports nothing).")
	}
	if err == nil {
		err = s.Store.SetImportHistoryDays(r.Context(), r.PathValue("id"), *in.ImportHistoryDays)
	}
	if s.answerStoreError(w, r, err, "No page has this id.") {
		return
	}
	s.getPage(w, r)
}
