"""Finding a model in a source: the matching rules (matching), catalogs read and indexed once with
the join keys they publish (catalogs), and how extract and transform reach a source's documents
(access), written once so that neither stage imports the other."""
