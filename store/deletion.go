package store

import (
	"context"
	"database/sql"
	"fmt"
)

// MarkPageDeleting starts a page's deletion; it answers the page's status after
// the call ("deleting", or "deleted" when that already happened).
func (s *Store) MarkPageDeleting(ctx context.Context, pageUUID string) (string, error) {
	if !validUUID(pageUUID) {
		return "", ErrNotFound
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("pages").Set(ub.Assign("provisioning_status", "deleting"), ub.Assign("last_error", ""), "updated_at = now()").
		Where(ub.Equal("id", pageUUID), ub.NotIn("provisioning_status", "deleting", "deleted"))
	if _, err := exec(ctx, s.DB, ub); err != nil {
		return "", err
	}
	return s.PageStatus(ctx, pageUUID)
}

// MarkAccountDeleting starts an account's deletion and lists its pages.
func (s *Store) MarkAccountDeleting(ctx context.Context, accountID string) (string, error) {
	if !validUUID(accountID) {
		return "", ErrNotFound
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("accounts").Set(ub.Assign("status", "deleting")).Where(ub.Equal("id", accountID), ub.Equal("status", "active"))
	if _, err := exec(ctx, s.DB, ub); err != nil {
		return "", err
	}
	var status string
	err := columnByID(ctx, s.DB, "accounts", "status", accountID, false, &status)
	return status, notFound(err, "account")
}

// OpenConversation identifies a conversation's workflow.
type OpenConversationRef struct {
	ID     string
	PageID string
	PSID   string
}

// OpenConversationsOfPage lists the page's conversations that are not closed.
func (s *Store) OpenConversationsOfPage(ctx context.Context, pageUUID string) ([]OpenConversationRef, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("c.id", "c.page_id", "cu.psid").From("conversations c").Join("customers cu", "cu.id = c.customer_id").
		Where(sb.Equal("c.page_uuid", pageUUID), sb.NotEqual("c.status", "closed")).OrderBy("c.opened_at")
	return queryAll(ctx, s.DB, sb, func(row rowScanner) (OpenConversationRef, error) {
		var r OpenConversationRef
		err := row.Scan(&r.ID, &r.PageID, &r.PSID)
		return r, err
	})
}

// ErasePage closes what is still open, erases the page's token and records
// `deleted`. Idempotent.
func (s *Store) ErasePage(ctx context.Context, pageUUID, closeReason string) error {
	open, err := s.OpenConversationsOfPage(ctx, pageUUID)
	if err != nil {
		return err
	}
	for _, c := range open {
		if _, _, err := s.CloseConversation(ctx, c.ID, "", closeReason, ""); err != nil {
			return err
		}
	}
	ub := pg.NewUpdateBuilder()
	ub.Update("pages").Set("access_token_enc = NULL", ub.Assign("provisioning_status", "deleted"), ub.Assign("last_error", ""),
		"updated_at = now()").Where(ub.Equal("id", pageUUID))
	_, err = exec(ctx, s.DB, ub)
	return err
}

// PagesNotDeleted counts an account's pages whose deletion has not finished.
func (s *Store) PagesNotDeleted(ctx context.Context, accountID string) ([]string, error) {
	sb := pg.NewSelectBuilder()
	sb.Select("id").From("pages").Where(sb.Equal("account_id", accountID), sb.NotEqual("provisioning_status", "deleted")).OrderBy("created_at")
	return queryIDs(ctx, s.DB, sb)
}

// MarkPagesDeleting moves every page of the account that is not gone to deleting.
func (s *Store) MarkPagesDeleting(ctx context.Context, accountID string) error {
	ub := pg.NewUpdateBuilder()
	ub.Update("pages").Set(ub.Assign("provisioning_status", "deleting"), "updated_at = now()").
		Where(ub.Equal("account_id", accountID), ub.NotIn("provisioning_status", "deleting", "deleted"))
	_, err := exec(ctx, s.DB, ub)
	return err
}

// EraseAccount erases the app secret and records the account deleted.
func (s *Store) EraseAccount(ctx context.Context, accountID string) error {
	return s.InTx(ctx, func(tx *sql.Tx) error {
		sb := pg.NewSelectBuilder()
		sb.Select("count(*)").From("pages").Where(sb.Equal("account_id", accountID), sb.NotEqual("provisioning_status", "deleted"))
		var live int
		if err := queryRow(ctx, tx, sb).Scan(&live); err != nil {
			return err
		}
		if live > 0 {
			return fmt.Errorf("account %s still has %d pages that are not deleted", accountID, live)
		}
		ub := pg.NewUpdateBuilder()
		ub.Update("accounts").Set("app_secret_enc = NULL", ub.Assign("status", "deleted"), "deleted_at = now()").
			Where(ub.Equal("id", accountID))
		_, err := exec(ctx, tx, ub)
		return err
	})
}
