-- A node run carries its transitions (JSON: [{port, worktable, slice, rows, activated}]), so an
-- activity is finished by one UPDATE in the transaction that creates its worktables.
ALTER TABLE cantata_node_run ADD COLUMN transitions TEXT;

UPDATE cantata_node_run SET transitions = t.doc
FROM (
    SELECT run, node, json_agg(json_build_object(
        'port', port, 'worktable', worktable, 'slice', slice, 'rows', row_count,
        'activated', activated
    ) ORDER BY port)::text AS doc
    FROM cantata_transition GROUP BY run, node
) AS t
WHERE cantata_node_run.run = t.run AND cantata_node_run.node = t.node;

DROP TABLE cantata_transition;
