-- 0031: a model's alias history now follows it through a rename and goes with it when it is
-- deleted (as its policy and approvals did). Builds before left the moves of a deleted model,
-- and of a renamed model under its old name, in `alias_history`: a new model given that name
-- showed them as its own. They are removed here (the audit log keeps every move).
-- Shipped migrations are never edited; add a new file instead.

DELETE FROM alias_history WHERE name NOT IN (SELECT name FROM registered_models);
