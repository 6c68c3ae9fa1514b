-- An automation account saved with its password is connected: its card says so (it said
-- "Connect your account" with nothing for anyone to do).
UPDATE account_cards SET status = 'connected'
WHERE automation_account_id IS NOT NULL AND status = 'connect_your_account'
  AND EXISTS (SELECT 1 FROM vault_secrets s WHERE s.owner_kind = 'automation_account'
              AND s.owner_id = account_cards.automation_account_id AND s.name = 'password');
