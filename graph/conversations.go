package graph

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The Conversations API reads a page's past Messenger threads, newest first.
// Facebook allows 2 calls per second per page on it; callers pace themselves.

// Participant is a thread's party: the page or a customer (by PSID).
type Participant struct {
	ID   flexString `json:"id"`
	Name string     `json:"name"`
}

// Thread is one Messenger conversation of a page.
type Thread struct {
	ID           string `json:"id"`
	UpdatedTime  string `json:"updated_time"`
	Participants struct {
		Data []Participant `json:"data"`
	} `json:"participants"`
}

// ThreadAttachment is an attachment of a past message.
type ThreadAttachment struct {
	MimeType  string `json:"mime_type"`
	Name      string `json:"name"`
	FileURL   string `json:"file_url"`
	ImageData *struct {
		URL string `json:"url"`
	} `json:"image_data"`
}

// ThreadMessage is one past message of a thread.
type ThreadMessage struct {
	ID          string      `json:"id"`
	CreatedTime string      `json:"created_time"`
	From        Participant `json:"from"`
	Message     string      `json:"message"`
	Attachments struct {
		Data []ThreadAttachment `json:"data"`
	} `json:"attachments"`
}

type paging struct {
	Cursors struct {
		After string `json:"after"`
	} `json:"cursors"`
	Next string `json:"next"`
}

// ParseTime reads Facebook's times ("2017-02-08T17:54:51+0000", or RFC 3339).
func ParseTime(s string) (time.Time, error) {
	t, err := time.Parse("2006-01-02T15:04:05-0700", s)
	if err != nil {
		t, err = time.Parse(time.RFC3339, s)
	}
	return t.UTC(), err
}

// Conversations lists one page of the page's Messenger threads, newest first;
// after is the cursor of the previous page ("" for the first). It answers the
// next cursor, "" when there are no more.
func (c *Client) Conversations(ctx context.Context, pageID, after string, limit int, cred Credentials) ([]Thread, string, error) {
	q := url.Values{"platform": {"messenger"}, "fields": {"id,updated_time,participants"}}
	return listPage[Thread](ctx, c, "page id", pageID, "/conversations", q, after, limit, cred)
}

// ConversationMessages lists one page of a thread's messages, newest first.
func (c *Client) ConversationMessages(ctx context.Context, threadID, after string, limit int, cred Credentials) ([]ThreadMessage, string, error) {
	q := url.Values{"fields": {"id,created_time,from,to,message,attachments"}}
	return listPage[ThreadMessage](ctx, c, "conversation id", threadID, "/messages", q, after, limit, cred)
}

// listPage reads one page of limit items of an edge of the object id (what
// names the id, for the error on an empty one) with the query q, after the
// cursor after; it answers the items and the next cursor.
func listPage[T any](ctx context.Context, c *Client, what, id, edge string, q url.Values, after string, limit int, cred Credentials) ([]T, string, error) {
	p, err := segment(what, id)
	if err != nil {
		return nil, "", err
	}
	q.Set("limit", strconv.Itoa(limit))
	if after != "" {
		q.Set("after", after)
	}
	var resp struct {
		Data   []T    `json:"data"`
		Paging paging `json:"paging"`
	}
	err = c.do(ctx, call{method: http.MethodGet, path: p + edge, secrets: cred.secrets(),
		query: authQuery(q, cred.AccessToken, cred.AppSecret)}, &resp)
	if err != nil {
		return nil, "", err
	}
	return resp.Data, nextCursor(resp.Paging), nil
}

// nextCursor is the cursor of the next page; Facebook leaves out "next" on
// the last page (its "after" cursor may still be set).
func nextCursor(p paging) string {
	if p.Next == "" {
		return ""
	}
	return p.Cursors.After
}
