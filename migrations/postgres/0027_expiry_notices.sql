-- Webhook events (issue 19): a partner hears once that an app's secret or certificate ends
-- soon. The notice is claimed by setting this column (compare-and-set), in the transaction
-- that queues the event, so several instances send it once.
ALTER TABLE app_secrets ADD COLUMN expiry_noticed_at BIGINT NULL;
ALTER TABLE app_certificates ADD COLUMN expiry_noticed_at BIGINT NULL;
