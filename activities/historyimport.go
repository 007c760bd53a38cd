package activities

import (
	"context"
	"time"

	"fbchannel/graph"
	"fbchannel/store"
	"fbchannel/workflows/contract"
)

// Page sizes of the Conversations API calls of a history import.
const (
	pastThreadsPerCall  = 25
	pastMessagesPerCall = 100
)

// StartHistoryImport marks the page's import running and answers its days
// (0: the page imports no history; the import is then off).
func (a *Activities) StartHistoryImport(ctx context.Context, in contract.PageInput) (int, error) {
	h, err := a.Store.StartHistoryImport(ctx, in.PageUUID)
	if err != nil {
		return 0, fromStore(err)
	}
	return h.Days, nil
}

// FinishHistoryImportInput ends an import; Failure is a sentence for the admin.
type FinishHistoryImportInput struct {
	PageUUID string
	Failure  string
}

// FinishHistoryImport records the end of the page's import.
func (a *Activities) FinishHistoryImport(ctx context.Context, in FinishHistoryImportInput) error {
	return a.Store.FinishHistoryImport(ctx, in.PageUUID, in.Failure)
}

// PastThreadsInput asks for one page of the page's threads updated since Since.
type PastThreadsInput struct {
	PageUUID string
	After    string // cursor; "" for the newest
	Since    time.Time
}

// PastThreadRef is a thread to import: ids only, never what was said.
type PastThreadRef struct {
	ID   string
	PSID string
}

// PastThreads is one page of threads; After is "" when there are no more
// recent enough.
type PastThreads struct {
	Threads []PastThreadRef
	After   string
}

// ListPastThreads makes one Conversations API call (the workflow paces them)
// with the page token it reads from Postgres.
func (a *Activities) ListPastThreads(ctx context.Context, in PastThreadsInput) (PastThreads, error) {
	cred, err := a.Store.PageCredentials(ctx, a.Store.DB, in.PageUUID)
	if err != nil {
		return PastThreads{}, fromStore(err)
	}
	threads, after, err := a.Graph.Conversations(ctx, cred.PageID, in.After, pastThreadsPerCall,
		graph.Credentials{AccessToken: cred.AccessToken, AppSecret: cred.AppSecret})
	if err != nil {
		return PastThreads{}, fromGraph(err)
	}
	out := PastThreads{Threads: []PastThreadRef{}, After: after}
	for _, t := range threads {
		updated, err := graph.ParseTime(t.UpdatedTime)
		if err == nil && updated.Before(in.Since) {
			out.After = "" // newest first: the rest are older still
			break
		}
		for _, p := range t.Participants.Data {
			if string(p.ID) != cred.PageID && p.ID != "" {
				out.Threads = append(out.Threads, PastThreadRef{ID: t.ID, PSID: string(p.ID)})
				break
			}
		}
	}
	return out, nil
}

// PastThreadPageInput asks for one page of a thread's messages.
type PastThreadPageInput struct {
	PageUUID string
	Thread   PastThreadRef
	After    string
	Since    time.Time
}

// PastThreadPage is what one page of a thread added; After is "" at the end.
type PastThreadPage struct {
	Added int
	After string
}

// ImportPastThreadPage makes one Conversations API call for a thread's
// messages and stores those since Since, each once (see
// store.ImportPastMessages), in one transaction.
func (a *Activities) ImportPastThreadPage(ctx context.Context, in PastThreadPageInput) (PastThreadPage, error) {
	cred, err := a.Store.PageCredentials(ctx, a.Store.DB, in.PageUUID)
	if err != nil {
		return PastThreadPage{}, fromStore(err)
	}
	msgs, after, err := a.Graph.ConversationMessages(ctx, in.Thread.ID, in.After, pastMessagesPerCall,
		graph.Credentials{AccessToken: cred.AccessToken, AppSecret: cred.AppSecret})
	if err != nil {
		return PastThreadPage{}, fromGraph(err)
	}
	batch := store.PastThread{PageUUID: in.PageUUID, PageID: cred.PageID, ThreadID: in.Thread.ID, PSID: in.Thread.PSID}
	for _, m := range msgs {
		at, err := graph.ParseTime(m.CreatedTime)
		if err != nil || m.ID == "" {
			continue // unreadable: nothing to show or to key it by
		}
		if at.Before(in.Since) {
			after = "" // newest first: the rest are older still
			break
		}
		fromPage := string(m.From.ID) == cred.PageID
		if !fromPage && batch.CustomerName == "" {
			batch.CustomerName = m.From.Name
		}
		pm := store.PastMessage{MID: m.ID, At: at, FromPage: fromPage, Text: m.Message}
		for _, att := range m.Attachments.Data {
			switch {
			case att.ImageData != nil && att.ImageData.URL != "":
				pm.Attachments = append(pm.Attachments, store.Attachment{Type: "image", URL: att.ImageData.URL})
			case att.FileURL != "":
				pm.Attachments = append(pm.Attachments, store.Attachment{Type: "file", URL: att.FileURL})
			}
		}
		batch.Messages = append(batch.Messages, pm)
	}
	added, err := a.Store.ImportPastMessages(ctx, batch)
	if err != nil {
		return PastThreadPage{}, err
	}
	return PastThreadPage{Added: added, After: after}, nil
}
