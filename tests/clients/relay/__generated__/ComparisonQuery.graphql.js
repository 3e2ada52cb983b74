/**
 * @generated SignedSource<<3ec5cf2ae663e5728b6072b1683d90ae>>
 * @lightSyntaxTransform
 */

/* eslint-disable */

'use strict';

var node = (function(){
var v0 = [
  {
    "defaultValue": null,
    "kind": "LocalArgument",
    "name": "ids"
  }
],
v1 = [
  {
    "kind": "Variable",
    "name": "ids",
    "variableName": "ids"
  }
],
v2 = {
  "alias": null,
  "args": null,
  "kind": "ScalarField",
  "name": "id",
  "storageKey": null
},
v3 = {
  "alias": null,
  "args": null,
  "kind": "ScalarField",
  "name": "missingIds",
  "storageKey": null
},
v4 = {
  "alias": null,
  "args": null,
  "concreteType": "ConfigDifference",
  "kind": "LinkedField",
  "name": "configDifferences",
  "plural": true,
  "selections": [
    {
      "alias": null,
      "args": null,
      "kind": "ScalarField",
      "name": "path",
      "storageKey": null
    },
    {
      "alias": null,
      "args": null,
      "kind": "ScalarField",
      "name": "values",
      "storageKey": null
    }
  ],
  "storageKey": null
};
return {
  "fragment": {
    "argumentDefinitions": (v0/*:: as any*/),
    "kind": "Fragment",
    "metadata": null,
    "name": "ComparisonQuery",
    "selections": [
      {
        "alias": null,
        "args": (v1/*:: as any*/),
        "concreteType": "BacktestRunComparison",
        "kind": "LinkedField",
        "name": "compareBacktestRuns",
        "plural": false,
        "selections": [
          {
            "alias": null,
            "args": null,
            "concreteType": "BacktestRun",
            "kind": "LinkedField",
            "name": "runs",
            "plural": true,
            "selections": [
              (v2/*:: as any*/),
              {
                "args": null,
                "kind": "FragmentSpread",
                "name": "RunRow_run"
              }
            ],
            "storageKey": null
          },
          (v3/*:: as any*/),
          (v4/*:: as any*/)
        ],
        "storageKey": null
      }
    ],
    "type": "Query",
    "abstractKey": null
  },
  "kind": "Request",
  "operation": {
    "argumentDefinitions": (v0/*:: as any*/),
    "kind": "Operation",
    "name": "ComparisonQuery",
    "selections": [
      {
        "alias": null,
        "args": (v1/*:: as any*/),
        "concreteType": "BacktestRunComparison",
        "kind": "LinkedField",
        "name": "compareBacktestRuns",
        "plural": false,
        "selections": [
          {
            "alias": null,
            "args": null,
            "concreteType": "BacktestRun",
            "kind": "LinkedField",
            "name": "runs",
            "plural": true,
            "selections": [
              (v2/*:: as any*/),
              {
                "alias": null,
                "args": null,
                "kind": "ScalarField",
                "name": "createdAt",
                "storageKey": null
              },
              {
                "alias": null,
                "args": null,
                "kind": "ScalarField",
                "name": "status",
                "storageKey": null
              },
              {
                "alias": null,
                "args": null,
                "kind": "ScalarField",
                "name": "strategyName",
                "storageKey": null
              },
              {
                "alias": null,
                "args": null,
                "kind": "ScalarField",
                "name": "instrumentSymbol",
                "storageKey": null
              },
              {
                "alias": null,
                "args": null,
                "concreteType": "PerformanceMetrics",
                "kind": "LinkedField",
                "name": "metrics",
                "plural": false,
                "selections": [
                  {
                    "alias": null,
                    "args": null,
                    "kind": "ScalarField",
                    "name": "totalReturn",
                    "storageKey": null
                  },
                  {
                    "alias": null,
                    "args": null,
                    "kind": "ScalarField",
                    "name": "sharpeRatio",
                    "storageKey": null
                  },
                  {
                    "alias": null,
                    "args": null,
                    "kind": "ScalarField",
                    "name": "maxDrawdown",
                    "storageKey": null
                  }
                ],
                "storageKey": null
              }
            ],
            "storageKey": null
          },
          (v3/*:: as any*/),
          (v4/*:: as any*/)
        ],
        "storageKey": null
      }
    ]
  },
  "params": {
    "cacheID": "2e59c14eb0270eb2408833cfef84f6bd",
    "id": null,
    "metadata": {},
    "name": "ComparisonQuery",
    "operationKind": "query",
    "text": "query ComparisonQuery(\n  $ids: [ID!]!\n) {\n  compareBacktestRuns(ids: $ids) {\n    runs {\n      id\n      ...RunRow_run\n    }\n    missingIds\n    configDifferences {\n      path\n      values\n    }\n  }\n}\n\nfragment RunRow_run on BacktestRun {\n  createdAt\n  status\n  strategyName\n  instrumentSymbol\n  metrics {\n    totalReturn\n    sharpeRatio\n    maxDrawdown\n  }\n}\n"
  }
};
})();

node.hash = "a4c5fe2f3ddf67100f74ccd42e61b481";

export default node;
