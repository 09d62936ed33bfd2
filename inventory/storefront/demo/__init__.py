"""The built-in demo storefront, all of it: its tables (``models``), the adapter OneFact
talks to (``adapter``), what a shopper or clerk does in it (``services``), and its page
(``selectors``, ``forms``, ``views``, ``urls``; the template is
``templates/inventory/demo_storefront.html``). The rest of inventory reaches it only as
the ``demo`` storefront adapter."""
